"""A hotline (e.g. Guangzhou's 236 "红棉守护" line) on the station client: report a caller's
need as `station/hotline-236`, then print what the five parties do about it until it is linked
or escalated, or the report is refused (an unknown community, say) with the reasons by field.

    AMQP_URI=amqp://guest:guest@127.0.0.1:5672/ .venv/bin/python examples/hotline.py \\
        tianjin/binhai/taida/xinghua errands high "独居老人需要代购药品"
"""
import os
import sys
import uuid

from wushe.contract.station import StationClient

FOLLOWED = ["need_registered", "worker_assigned", "worker_unavailable", "call_opened", "call_filled",
            "resource_pledged", "resource_shortfall", "need_linked", "need_escalated", "need_report_refused"]


def main(community, category, urgency, description):
    need_id = f"need-hotline-{uuid.uuid4().hex[:8]}"
    with StationClient(os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"), "hotline-236") as station:
        def show(event):
            if event.need_id != need_id:
                return
            print(f"{event.time}  {event.source:<10} {event.type}")
            if event.type == "need_report_refused":
                for field, reasons in event.data["errors"].items():
                    print(f"    {field}: {'; '.join(reasons)}")
            if event.type in ("need_linked", "need_escalated", "need_report_refused"):
                station.stop()
        station.follow(FOLLOWED, show)
        station.report_need({"id": need_id, "community": community, "category": category, "urgency": urgency,
                             "description": description,
                             "requirements": {"volunteers": {"count": 1, "skills": ["errands"]}}})
        print(f"reported {need_id}; following it (Ctrl-C to stop)")
        station.run()


if __name__ == "__main__":
    main(*sys.argv[1:5])
