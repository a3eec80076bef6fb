"""The ``rawcomplete`` command line.

Exit status: 0 when every input succeeded (or was skipped), 1 when any input failed or the report
could not be written, 2 for usage errors (bad option, bad preset file, missing input, OUTDIR that
is an input), 130 when interrupted (Ctrl-C / SIGTERM; the report is still written).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from runner.errors import PipelineInputError
from runner.masks import check_mask_dir
from pipeline import DEFAULT_DEFECT_THRESHOLD
from runner.settings import build_settings, load_preset
from runner.writers import FORMAT_EXTENSIONS

log = logging.getLogger("rawcomplete")

EPILOG = """\
examples:
  rawcomplete samples/ -o out/
  rawcomplete shoot/ -o developed/ --format jpeg --quality 92 --jobs 2 --report report.json
  rawcomplete IMG_0001.CR2 -o out/ --wb gray_world --denoise median3 --linear --format tiff32f
  rawcomplete shoot/ -o out/ --auto-mask defects --resume

masks: a sidecar <stem>.mask.png beside the RAW (or in --mask-dir), white = hole, in output
orientation and size, marks what to complete; files without a mask are developed only.

regression checks against references: rawcomplete check REFDIR INPUT... [--update] (rawcomplete check --help)

exit status: 0 all inputs done or skipped, 1 some input failed (or the report could not be
written), 2 usage error, 130 interrupted.
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    S = argparse.SUPPRESS
    p = argparse.ArgumentParser(
        allow_abbrev=False,  # '--qual 90' must not silently mean '--quality'
        prog="rawcomplete",
        usage="rawcomplete INPUT... -o OUTDIR [options]   (rawcomplete --help for the options)",
        description="Develop camera RAW files and complete masked pixels (defects, dust, objects).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=S,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="RAW files or folders (searched recursively)")
    p.add_argument("-o", "--output-dir", required=True, metavar="OUTDIR", help="where outputs go (mirrors input folders)")
    p.add_argument("--config", metavar="FILE", help="TOML preset (keys = long option names); flags override it")
    p.add_argument("--version", action="store_true", help="print the version and exit")

    g = p.add_argument_group("development (ISP)")
    g.add_argument("--wb", metavar="MODE", help="white balance: camera (default), gray_world, white_world, or gains R,G,B")
    g.add_argument("-w", dest="wb", action="store_const", const="camera", help="camera white balance (dcraw -w)")
    g.add_argument("-a", dest="wb", action="store_const", const="gray_world", help="gray-world auto white balance (dcraw -a)")
    g.add_argument("--denoise", metavar="MODE", help="off (default), median3, median5")
    g.add_argument("--demosaic", metavar="ALGO",
                   help="bilinear (default, LibRaw LINEAR, fastest), rcd, rcd_refined (sharpest)")
    g.add_argument("--crop", metavar="MODE",
                   help="default (the DNG DefaultCrop / camera crop, which LibRaw reports but does not apply) "
                        "or full (the whole visible area, LibRaw's size)")
    g.add_argument("--highlights", metavar="MODE",
                   help="clip (default, LibRaw's: blown areas neutral white), keep (values above white "
                        "stay in --linear output) or reconstruct (clipped channels rebuilt from the others "
                        "and nearby colour, all-clipped areas completed, unclipped scene-linear)")
    g.add_argument("--color", metavar="SPACE", help="srgb (default) or raw (camera RGB, no ICC profile)")
    g.add_argument("--gamma", metavar="CURVE", help="srgb (default), bt709, linear, or an exponent such as 2.2")
    g.add_argument("--linear", action=argparse.BooleanOptionalAction,
                   help="write scene-linear data with a linear ICC profile (like dcraw -4)")
    g.add_argument("--lens-shading", dest="lens_shading", metavar="MODE",
                   help="auto (default: DNG GainMap / FixVignetteRadial when present) or off")

    g = p.add_argument_group("output")
    g.add_argument("--format", metavar="FMT",
                   help=f"{', '.join(FORMAT_EXTENSIONS)} (default tiff16; tiff32f = float32 linear TIFF)")
    g.add_argument("--quality", type=int, metavar="Q", help="JPEG quality 1-100 (default 95)")
    g.add_argument("--compress", metavar="CODEC",
                   help="TIFF compression: none (default), deflate or zstd; lossless, with a predictor")
    g.add_argument("--overwrite", action=argparse.BooleanOptionalAction, help="replace existing outputs")
    g.add_argument("--resume", action=argparse.BooleanOptionalAction,
                   help="skip outputs already complete for the same input and settings; re-make stale ones")
    g.add_argument("--report", metavar="FILE", help="write a JSON report with one record per input")

    g = p.add_argument_group("completion")
    g.add_argument("--method", metavar="METHOD",
                   help="auto (default: biharmonic for small hole groups such as dust and defects, the GAN "
                        "for larger ones; biharmonic alone when the GAN weights are missing), gan, biharmonic")
    g.add_argument("--device", metavar="DEV", help="auto (default), cpu, cuda, cuda:N")
    g.add_argument("--masks", action=argparse.BooleanOptionalAction,
                   help="use sidecar <stem>.mask.png files (default); --no-masks ignores them")
    g.add_argument("--mask-dir", dest="mask_dir", metavar="DIR", help="look for <stem>.mask.png here instead of beside the RAW")
    g.add_argument("--auto-mask", dest="auto_mask", metavar="KIND",
                   help="none (default) or defects: also complete hot/dead pixels found on the sensor data")
    g.add_argument("--defect-threshold", dest="defect_threshold", type=float, metavar="T",
                   help=f"defect detection threshold in noise units (default {DEFAULT_DEFECT_THRESHOLD:g})")

    g = p.add_argument_group("batch")
    g.add_argument("-j", "--jobs", type=_positive_int, metavar="N", help="worker processes (default 1)")
    g.add_argument("--executor", choices=("local", "dask"),
                   help="local (default): a process pool on this machine; dask: a Dask cluster "
                        "(pip install 'rawcomplete[dask]'; inputs and outputs on a file system every worker sees)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler, e.g. tcp://HOST:8786 (implies --executor dask; default "
                        "$DASK_SCHEDULER_ADDRESS, else a local cluster of --jobs workers, one per core by default)")
    g.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="give up on a file after this long, counted from the start of its own work "
                        "(its worker is stopped; at most one week; default: no limit)")
    g.add_argument("--max-pixels", dest="max_pixels", type=_count, metavar="N",
                   help="refuse RAWs whose header claims more pixels than this, before decoding "
                        "(default 200000000; 0: no limit)")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction,
                   help="progress bar on a terminal (default on)")
    g.add_argument("-q", "--quiet", action="store_true", help="only errors; no progress bar, no summary")
    g.add_argument("-v", "--verbose", action="store_true", help="log more (per-file timings)")
    return p


SETTING_DESTS = (
    "wb", "denoise", "demosaic", "highlights", "crop", "color", "gamma", "linear", "lens_shading", "format", "quality",
    "compress", "overwrite",
    "resume", "report", "method", "device", "masks", "mask_dir", "auto_mask", "defect_threshold",
    "jobs", "executor", "progress", "timeout", "max_pixels",
)


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.INFO if verbose else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rawcomplete: %(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def flag_message(message: str, flags: Sequence[str], preset: str | None) -> str:
    """A settings error in the user's words: ``auto_mask must be ...`` becomes ``--auto-mask must
    be ...`` when the value came from the command line, ``auto_mask must be ... (preset FILE)``
    when it came from the preset."""
    head, sep, rest = message.partition(" ")
    if head not in SETTING_DESTS or not sep:
        return message
    if head in flags:
        return f"--{head.replace('_', '-')} {rest}"
    if preset is not None:
        return f"{message} (preset {preset!r})"
    return message


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _take_executor(ns: dict[str, Any], preset: dict[str, Any], overrides: dict[str, Any]) -> str:
    """The executor asked for (``--scheduler`` implies dask), recorded in the settings (and so in
    the report) as the name actually used."""
    from runner.executors import EXECUTORS

    name = overrides.get("executor", preset.get("executor"))
    if "scheduler" in ns:
        if name not in (None, "dask"):
            raise PipelineInputError(f"--scheduler needs --executor dask; got --executor {name}")
        name = "dask"
    name = name or "local"
    if name not in EXECUTORS:
        raise PipelineInputError(f"executor must be one of {', '.join(map(repr, EXECUTORS))}; got {name!r}")
    overrides["executor"] = name
    return name


def _build_executor(name: str, ns: dict[str, Any], settings: Any, *, jobs_given: bool) -> Any:
    """None for the local pool (run_batch makes it); the Dask executor, not yet connected."""
    if name != "dask":
        return None
    from runner.dask_executor import DaskExecutor, scheduler_address

    address = scheduler_address(ns.get("scheduler"))
    if address is not None and jobs_given:
        log.info("--jobs is ignored with a Dask scheduler: the cluster's workers decide")
    return DaskExecutor(jobs=settings.jobs if jobs_given else None, scheduler=address)


def parse_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[dict[str, Any], bool] | int:
    """Parse ``argv`` and set up logging (``-v`` / ``-q``): the options given and whether quiet,
    or the exit status when argparse ended the command (2 for a usage error, 0 for ``--help``).
    Shared by ``rawcomplete`` and ``rawcomplete check``."""
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    ns = vars(args)
    quiet = bool(ns.get("quiet", False))
    _setup_logging(bool(ns.get("verbose", False)), quiet)
    return ns, quiet


def read_options(ns: dict[str, Any], *, exclude: Sequence[str] = ()) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(preset, flag overrides, executor name) from parsed options: the ``--config`` preset, the
    settings given as flags (less ``exclude``), and the executor both say to use.

    Raises
    ------
    PipelineInputError
        An unreadable or invalid preset, or contradicting executor options.
    """
    preset = load_preset(ns["config"]) if "config" in ns else {}
    overrides = {k: ns[k] for k in SETTING_DESTS if k in ns and k not in exclude}
    return preset, overrides, _take_executor(ns, preset, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"]:  # rawcomplete check REFDIR INPUT... (regression checks, runner.check)
        from runner.check import main as check_main

        return check_main(argv[1:])
    if "--version" in argv:
        from runner.resume import package_version

        sys.stdout.write(f"rawcomplete {package_version()}\n")
        return 0
    parser = build_parser()
    parsed = parse_command(parser, argv)
    if isinstance(parsed, int):
        return parsed
    ns, quiet = parsed

    try:
        preset, overrides, executor_name = read_options(ns)
        if quiet:
            overrides["progress"] = False
        try:
            settings = build_settings(preset, overrides)
        except PipelineInputError as exc:
            raise PipelineInputError(flag_message(str(exc), list(overrides), ns.get("config"))) from None
        check_mask_dir(settings, where="--mask-dir" if "mask_dir" in overrides else f"mask_dir in preset {ns.get('config')!r}")
        executor = _build_executor(executor_name, ns, settings, jobs_given="jobs" in overrides or "jobs" in preset)
        outdir = Path(ns["output_dir"])
        if settings.report:
            rep = Path(settings.report).resolve()
            if any(Path(i).exists() and Path(i).resolve() == rep for i in ns["inputs"]):
                raise PipelineInputError(f"--report {settings.report!r} is an input file")
    except PipelineInputError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"rawcomplete: error: {exc}\n")
        return 2

    from runner.batch import run_batch

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        result = run_batch(ns["inputs"], outdir, settings, argv=argv, executor=executor)
    except PipelineInputError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"rawcomplete: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("rawcomplete: interrupted\n")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if executor is not None:
            executor.close()

    from collections import Counter

    s = result.summary
    if not quiet:
        line = (
            f"rawcomplete: {s['done']} done, {s['failed']} failed, {s['skipped']} skipped"
            f" of {s['inputs']} RAW file(s); {s['passed_over']} other file(s) passed over"
            f" ({result.seconds:.1f} s)"
        )
        reasons = result.report.get("passed_over_reasons") or {}
        if reasons:
            by_reason = Counter(reasons.values()).most_common()
            line += " [" + ", ".join(f"{n} {why}" for why, n in by_reason) + "]"
        skipped = Counter(r.reason for r in result.records if r.status == "skipped").most_common()
        if skipped:
            line += "; skipped: " + ", ".join(f"{n} {why}" for why, n in skipped)
        if s.get("not_run"):
            line += f"; {s['not_run']} not run (interrupted)"
        if settings.report and result.report_error is None:
            line += f"; report: {settings.report}"
        elif result.report_error is not None:
            line += "; the report could NOT be written"
        sys.stderr.write(line + "\n")
    if ns.get("verbose"):
        for rec in result.records:
            if rec.status == "done":
                log.info("%s -> %s %s", rec.input, rec.output, rec.seconds)
    return result.exit_code
