from bridges.cli import main
from bridges.funasr import SPEC

main(SPEC)
