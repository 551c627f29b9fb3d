from bridges.cli import main
from bridges.google_stt import SPEC

main(SPEC)
