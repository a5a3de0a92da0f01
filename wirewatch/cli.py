"""The `wirewatch` command: the embedded default, workers, ingest, topic admin and offline tools."""
from __future__ import annotations

import argparse
import asyncio
import logging.config
import sys
from pathlib import Path

from streams.logs import logging_config
from streams.settings import DEFAULTS, Settings, documented_settings
from wirewatch.stages import STAGE_MODULES

DEMO_SEEDS = DEFAULTS / "seeds"  # what `run` ingests without paths: package data, so the demo runs from any folder


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(broker=getattr(args, "broker", None), topic_prefix=getattr(args, "prefix", None),
                             partitions=getattr(args, "partitions", None), web_port=getattr(args, "web_port", None))


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="Kafka bootstrap servers, kafka://host:port[,…] (WIREWATCH_BROKER)")
    parser.add_argument("--prefix", help="topic prefix (WIREWATCH_TOPIC_PREFIX)")
    parser.add_argument("--partitions", type=int, help="partitions per topic (WIREWATCH_PARTITIONS)")


def cmd_run(args: argparse.Namespace) -> int:
    from wirewatch.run import run_embedded

    paths = args.paths or [DEMO_SEEDS]
    return run_embedded(paths, _settings(args), fresh=args.fresh, exit_after_idle=args.exit_after_idle,
                        timeout=args.timeout)


def cmd_worker(args: argparse.Namespace) -> int:
    from wirewatch.worker import run_worker

    run_worker(args.stage, _settings(args))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from agents.ingest.producer import ingest_paths

    if str(args.paths[0]) == "feeds":
        from agents.ingest.feeds import ingest_feeds

        if len(args.paths) != 2:
            raise ValueError("usage: wirewatch ingest feeds FEEDS.yaml [--once]")
        polled = asyncio.run(ingest_feeds(args.paths[1], _settings(args), once=args.once))
        print(f"sent {polled.sent} feed entries, {polled.unchanged} feeds unchanged, "
              f"{polled.failed} polls failed", file=sys.stderr)
        return 1 if polled.failed else 0

    report = asyncio.run(ingest_paths(args.paths, _settings(args), speed=args.speed, progress=args.progress))
    print(f"sent {report.sent} articles, {report.dead_lettered} to the dead-letter topic, "
          f"{report.failed} not accepted by the broker", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_topics_create(args: argparse.Namespace) -> int:
    from wirewatch.admin import create_topics

    for name, outcome in asyncio.run(create_topics(_settings(args))).items():
        print(f"{name}\t{outcome}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from wirewatch.status import render, stage_statuses

    print(render(asyncio.run(stage_statuses(_settings(args)))))
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from wirewatch.offline import clean_paths

    return clean_paths(args.paths, sys.stdout.buffer)


def cmd_tag(args: argparse.Namespace) -> int:
    from wirewatch.offline import tag_file

    return tag_file(args.file, Settings.from_env(), sys.stdout.buffer)


def cmd_process(args: argparse.Namespace) -> int:
    from wirewatch.offline import process_paths

    with open(args.out, "wb") as out:
        return process_paths(args.paths, Settings.from_env(), out)


def parser() -> argparse.ArgumentParser:
    """The argument parser of `wirewatch` and its subcommands."""
    settings_help = "\n".join(f"  {name:34} {doc} (default: {default})" for name, default, doc in documented_settings())
    top = argparse.ArgumentParser(
        prog="wirewatch", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Streaming news processing on Kafka: clean → dedup → tag entities → alert.",
        epilog="settings (environment variables):\n" + settings_help)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="everything on an embedded broker, with a live feed (the default demo)",
                              description="Start the embedded Kafka broker (its data in WIREWATCH_DATA_DIR/kafka), "
                              "create the topics, run every stage as its own supervised process, ingest PATHS "
                              "(default: the seeds shipped in the package) and print the live feed. Ctrl-C stops. "
                              "A second run continues where the last one stopped.")
    run.add_argument("paths", nargs="*", type=Path,
                     help="files or folders to ingest (default: the seeds shipped in the package)")
    run.add_argument("--web-port", type=int, help="first metrics port; stages use the next ones (WIREWATCH_WEB_PORT)")
    run.add_argument("--exit-after-idle", type=float, default=0.0, metavar="SECONDS",
                     help="stop once the feed has shown something and then been quiet this long "
                     "(default: run until Ctrl-C)")
    run.add_argument("--fresh", action="store_true",
                     help="forget what earlier runs left (the broker's topics and offsets, the stages' tables) and "
                     "start over")
    run.add_argument("--timeout", type=float, default=0.0, metavar="SECONDS", help="give up after this long")
    run.set_defaults(handler=cmd_run)

    worker = commands.add_parser("worker", help="run one stage as its own process against any Kafka")
    worker.add_argument("stage", choices=list(STAGE_MODULES))
    worker.add_argument("--web-port", type=int, help="port of /metrics (WIREWATCH_WEB_PORT)")
    _broker_options(worker)
    worker.set_defaults(handler=cmd_worker)

    ingest = commands.add_parser("ingest", help="send .txt/.json/.jsonl/.html files or folders to the raw topic")
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument("--once", action="store_true",
                        help="with `feeds FEEDS.yaml`: poll every feed once and exit (default: poll forever)")
    ingest.add_argument("--speed", type=float, default=0.0, metavar="FACTOR",
                        help="replay in publish-time order, spacing divided by FACTOR (60: an hour in a minute; "
                        "undated articles first); 0 = as fast as possible (default)")
    ingest.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: on for more than 1000 articles on a terminal)")
    _broker_options(ingest)
    ingest.set_defaults(handler=cmd_ingest)

    topics = commands.add_parser("topics", help="topic administration")
    topic_commands = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    create = topic_commands.add_parser("create", help="create every topic with its partition count")
    _broker_options(create)
    create.set_defaults(handler=cmd_topics_create)

    status = commands.add_parser("status", help="a table per stage: workers, partitions, lag, throughput, dead "
                                 "letters (read from the broker)")
    _broker_options(status)
    status.set_defaults(handler=cmd_status)

    clean = commands.add_parser("clean", help="offline: clean files, one JSON line per article")
    clean.add_argument("paths", nargs="+", type=Path)
    clean.set_defaults(handler=cmd_clean)

    tag = commands.add_parser("tag", help='offline: tag {"id", "text"} JSON lines, print their entities')
    tag.add_argument("file", type=Path)
    tag.set_defaults(handler=cmd_tag)

    process = commands.add_parser("process", help="offline: all four stages in one process, publish-time order")
    process.add_argument("paths", nargs="+", type=Path)
    process.add_argument("--out", type=Path, required=True, help="JSON lines file, one line per article")
    process.set_defaults(handler=cmd_process)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `wirewatch` console script."""
    args = parser().parse_args(argv)
    if args.command != "worker":  # a worker's logging is set up by Faust, with the same JSON format
        logging.config.dictConfig(logging_config(Settings.from_env().log_level))
    try:
        return int(args.handler(args) or 0)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"wirewatch: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
