from asr_stack.launcher import main

main()
