from bridges.cli import main
from bridges.whisperlive import SPEC

main(SPEC)
