from bridges.cli import main
from bridges.rnnt import SPEC

main(SPEC)
