from bridges.cli import main
from bridges.nexa import SPEC

main(SPEC)
