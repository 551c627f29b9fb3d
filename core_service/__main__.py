"""python -m core_service: run the asr.v1 gRPC server."""
import asyncio

from asr_common.logs import configure_logging

from .config import ServerConfig
from .server import serve


def main() -> None:
    config = ServerConfig.from_args()
    configure_logging(config.log_level, config.log_format)
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
