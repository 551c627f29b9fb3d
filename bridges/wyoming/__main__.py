from bridges.cli import main
from bridges.wyoming import SPEC

main(SPEC)
