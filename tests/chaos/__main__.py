"""`python -m tests.chaos [--mode processes|containers] [--needs N] [--kill-every S] [--broker-down S] …`
(make chaos).

--mode processes (the default): a process per service and the gateway on a store server of the
run's own; processes are SIGKILLed, the store server is killed -9 once (tests/chaos/process_mode.py).
--mode containers: every service as a container in this one process on the embedded store;
containers are killed (tests/chaos/run.py). --broker-down 0 skips the broker outage in either.
"""
import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import sys  # noqa: E402

from tests.chaos import process_mode, run as container_mode  # noqa: E402
from wushe.runtime import logs  # noqa: E402

MODES = {"processes": process_mode, "containers": container_mode}


def main(argv=None):
    mode = argparse.ArgumentParser(add_help=False)
    mode.add_argument("--mode", choices=sorted(MODES), default="processes")
    chosen = MODES[mode.parse_known_args(argv)[0].mode]
    defaults = chosen.Options()
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__, parents=[mode],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for option in dataclasses.fields(defaults):
        kind = option.type if isinstance(option.type, type) else type(getattr(defaults, option.name))
        if option.name in ("say", "amqp_host"):
            continue
        flag = f"--{option.name.replace('_', '-')}"
        if kind is bool:
            parser.add_argument(flag, dest=option.name, action="store_true")
        else:
            parser.add_argument(flag, dest=option.name, type=kind, default=getattr(defaults, option.name))
    parser.add_argument("--log-level", default="WARNING")
    args = vars(parser.parse_args(argv))
    args.pop("mode")
    logs.configure(args.pop("log_level"))
    options = chosen.Options(**args)
    what = "process SIGKILLed" if chosen is process_mode else "container killed"
    outage = f"the broker stopped for {options.broker_down:g} s" if options.broker_down > 0 else "no broker outage"
    store = f", the store server killed -9 once for {options.store_down:g} s" if chosen is process_mode else ""
    print(f"chaos ({'processes' if chosen is process_mode else 'containers'}): {options.needs} needs, a {what} "
          f"every ~{options.kill_every:g} s, {outage}{store}, {options.poison} poison messages", flush=True)
    ok, rows, figures = chosen.run(options)
    container_mode.report(ok, rows, figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
