# A worker of ten lines: python3 examples/python/worker.py  (Ctrl-C / SIGTERM stops it gracefully)
import logging, os
from ff_engine import Worker

logging.basicConfig(level=logging.INFO)
worker = Worker(os.environ.get("DATABASE_URL", "dbname=app"), lanes="emails", concurrency=10)

@worker.handler("send_invoice")
def send_invoice(job):
    print("sending invoice", job.json()["order_id"], "to", job.json()["to"])
    return {"sent": True}

worker.run()
