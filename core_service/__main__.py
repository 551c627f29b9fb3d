"""python -m core_service: run the asr.v1 gRPC server."""
import asyncio
import logging

from .config import ServerConfig
from .server import serve


def main() -> None:
    config = ServerConfig.from_args()
    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
