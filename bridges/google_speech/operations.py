"""The LongRunningRecognize operations a bridge keeps for google.longrunning.Operations/GetOperation.

An operation is stored done (the LongRunningRecognize call returns when its transcript is ready),
under an unguessable numeric name as Google's are; the newest `capacity` are kept (oldest dropped).
"""
from __future__ import annotations

import secrets
from collections import OrderedDict

from google.longrunning import operations_pb2
from google.protobuf.message import Message

from bridges.google_speech.results import done_operation

DEFAULT_CAPACITY = 1000


class OperationStore:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._operations: OrderedDict[str, operations_pb2.Operation] = OrderedDict()

    def add(self, response: Message, metadata: Message) -> operations_pb2.Operation:
        name = str(secrets.randbelow(10 ** 19))
        operation = done_operation(name, response, metadata)
        self._operations[name] = operation
        while len(self._operations) > self.capacity:
            self._operations.popitem(last=False)
        return operation

    def get(self, name: str) -> operations_pb2.Operation | None:
        return self._operations.get(name)
