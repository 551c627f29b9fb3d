"""The launcher of the whole stack (`make run`, `python -m asr_stack`): the core and every bridge as
one supervised group. It sits above `core_service` and `bridges`, which never import it."""
