"""`python -m tests.chaos [--needs N] [--kill-every S] [--broker-down S] …` (make chaos)."""
import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import sys  # noqa: E402

from tests.chaos.run import Options, report, run  # noqa: E402
from wushe import logs  # noqa: E402


def main(argv=None):
    defaults = Options()
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    for name in ("needs", "concurrency", "poison", "seed"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    for name in ("kill_every", "broker_down", "broker_after", "republish", "quiet_timeout"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, default=getattr(defaults, name))
    parser.add_argument("--log-level", default="WARNING")
    args = vars(parser.parse_args(argv))
    logs.configure(args.pop("log_level"))
    options = Options(**args)
    print(f"chaos: {options.needs} needs, a container killed every ~{options.kill_every:g} s, the broker "
          f"stopped for {options.broker_down:g} s, {options.poison} poison messages", flush=True)
    ok, rows, figures = run(options)
    report(ok, rows, figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
