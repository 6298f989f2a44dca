"""The API server as `alpr serve` runs it, alone or inside the flow's process (`alpr run --serve`).

The embedded chDB database opens in one process only, so on one machine the flow and the API share
a process: the flow on the main thread, the API (console, search, SQL, audit) on a thread beside it.
The console's live feed reads Kafka, never the database, so hits reach a console as soon as the flow
publishes them.
"""

import logging
import threading

import uvicorn
from confluent_kafka import KafkaException

from alpr.app.api import create_app, server_config
from alpr.config import Config
from alpr.messages import kafka
from alpr.messages.hit_feed import HitFeed
from alpr.messages.hit_steps import StepPublisher

log = logging.getLogger(__name__)


class ApiServer(uvicorn.Server):
    """uvicorn's server that also ends the console streams when it stops: they never finish by
    themselves, and would hold the shutdown for its grace period."""

    def __init__(self, config: uvicorn.Config, feed: HitFeed, publisher: StepPublisher):
        super().__init__(config)
        self.feed = feed
        self.publisher = publisher

    def handle_exit(self, sig, frame) -> None:
        self.feed.close()
        super().handle_exit(sig, frame)

    def stop(self) -> None:
        self.feed.close()
        self.should_exit = True

    async def shutdown(self, sockets=None) -> None:
        await super().shutdown(sockets)
        self.publisher.close()


def build(cfg: Config, host: str = "", port: int = 0) -> ApiServer:
    """The server with its hit feed started; a broker that is down now is waited for by the feed."""
    try:
        kafka.ensure_topics(cfg)
    except KafkaException as exc:
        log.warning("Kafka is not reachable (%s): the console's hits arrive once it is", exc)
    feed, publisher = HitFeed(cfg).start(), StepPublisher(cfg)
    app = create_app(cfg, feed=feed, publisher=publisher)
    return ApiServer(server_config(app, host or cfg.api.host, port or cfg.api.port), feed, publisher)


def start_beside(cfg: Config) -> ApiServer:
    """The server on a daemon thread of this process; it stops with the process."""
    server = build(cfg)
    server.config.log_level = "warning"
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    return server
