"""google_speech dialect: Google Cloud Speech v1 over gRPC on HOST:50052 (see bridges/google_speech/codec.py)."""
from __future__ import annotations

from google.cloud import speech_v1
from google.longrunning import operations_pb2

from bridges.google_speech.codec import (GET_OPERATION, LONG_RUNNING_RECOGNIZE, RECOGNIZE, STREAMING_RECOGNIZE,
                                         GoogleSpeechCodec, GoogleSpeechSettings)
from bridges.google_speech.operations import OperationStore
from bridges.limits import Limits
from bridges.runtime import BridgeContext, ConnectionInfo, DialectSpec
from bridges.transports.grpc import GrpcMethod

# Google's own limit for Recognize/LongRunningRecognize content is 10 MB; the rest is the message.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024 + 64 * 1024


def make_codec(info: ConnectionInfo, bridge: BridgeContext) -> GoogleSpeechCodec:
    return GoogleSpeechCodec(info.path, bridge.settings, bridge.state, engine=bridge.options.engine)


def make_operations(bridge: BridgeContext) -> OperationStore:
    return OperationStore(bridge.settings.max_operations)


METHODS = (
    GrpcMethod(STREAMING_RECOGNIZE, speech_v1.StreamingRecognizeRequest.pb(),
               speech_v1.StreamingRecognizeResponse.pb()),
    GrpcMethod(RECOGNIZE, speech_v1.RecognizeRequest.pb(), speech_v1.RecognizeResponse.pb(), streaming=False),
    GrpcMethod(LONG_RUNNING_RECOGNIZE, speech_v1.LongRunningRecognizeRequest.pb(), operations_pb2.Operation,
               streaming=False),
    GrpcMethod(GET_OPERATION, operations_pb2.GetOperationRequest, operations_pb2.Operation, streaming=False),
)

SPEC = DialectSpec(
    name="google_speech",
    path="/{service}/{method}",
    default_port=50052,
    codec_factory=make_codec,
    transport="grpc",
    transport_options={"grpc": METHODS},
    limits=Limits(max_message_bytes=MAX_MESSAGE_BYTES),
    settings=GoogleSpeechSettings(),
    make_state=make_operations,
    reference="[Cloud Speech-to-Text v1 RPC](https://cloud.google.com/speech-to-text/docs/reference/rpc/google.cloud.speech.v1)",
    notes="Google's `google-cloud-speech` client on a channel to this port: StreamingRecognize, Recognize, "
          "LongRunningRecognize + GetOperation ([docs/google_speech.md](docs/google_speech.md))",
)
