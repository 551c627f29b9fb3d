from bridges.cli import main
from bridges.vosk import SPEC

main(SPEC)
