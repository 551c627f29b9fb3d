"""The google_speech bridge (Google Cloud Speech v1 over gRPC) driven by Google's own published
client, `google-cloud-speech`'s `SpeechClient`, on a channel to the bridge — as its users would
point it at us — with JFK's speech against the real core."""
from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from google.api_core import exceptions
from google.rpc import error_details_pb2
from google.cloud import speech_v1 as speech
from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

from bridge_helpers import BridgeProcess, start_bridge
from google.oauth2.credentials import Credentials
from tests.audio_fixtures import to_pcm16, wer
from tests.dialogues import two_speakers_kennedy_and_sonnets
from tests.encoded_audio import jfk_file
from tests.real_speech import load
from tests.security_helpers import KEYS_TOML, WEB, client_credentials, make_pki

CHUNK_SECONDS = 0.1
RATE = 16000


@pytest.fixture(scope="module")
def speech_bridge(core_address, tmp_path_factory) -> BridgeProcess:
    bridge = start_bridge(tmp_path_factory.mktemp("google_speech"), "google_speech", core_address)
    yield bridge
    bridge.stop()


def client_of(target: str, credentials: grpc.ChannelCredentials | None = None) -> speech.SpeechClient:
    """Google's client on a channel to `target` (insecure on loopback, or TLS)."""
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    return speech.SpeechClient(transport=SpeechGrpcTransport(channel=channel))


@pytest.fixture(scope="module")
def client(speech_bridge) -> speech.SpeechClient:
    return client_of(f"127.0.0.1:{speech_bridge.port}")


def jfk() -> tuple[bytes, str]:
    recording = load("jfk")
    return to_pcm16(recording.audio), recording.transcript


def config(**fields) -> speech.RecognitionConfig:
    return speech.RecognitionConfig(**{"encoding": speech.RecognitionConfig.AudioEncoding.LINEAR16,
                                       "sample_rate_hertz": RATE, "language_code": "en-US", **fields})


def at_real_time(pcm: bytes, bytes_per_second: int = RATE * 2):
    """Audio requests paced as a microphone sends them."""
    step = int(bytes_per_second * CHUNK_SECONDS)
    for i in range(0, len(pcm), step):
        time.sleep(CHUNK_SECONDS)
        yield speech.StreamingRecognizeRequest(audio_content=pcm[i:i + step])


def finals_of(responses) -> list[speech.StreamingRecognitionResult]:
    return [result for response in responses for result in response.results if result.is_final]


def test_streaming_recognize_at_real_time_gives_interim_and_final_results_with_word_times(client):
    pcm, transcript = jfk()
    streaming = speech.StreamingRecognitionConfig(
        config=config(enable_word_time_offsets=True, enable_automatic_punctuation=True), interim_results=True)
    responses = list(client.streaming_recognize(streaming, at_real_time(pcm), timeout=120))
    results = [result for response in responses for result in response.results]
    interim = [result for result in results if not result.is_final]
    finals = finals_of(responses)
    text = " ".join(f.alternatives[0].transcript for f in finals)
    assert wer(transcript, text) <= 0.15, text
    assert interim and all(0 <= result.stability <= 1 for result in interim)
    assert any(result.stability > 0 for result in interim) and not any(r.alternatives[0].words for r in interim)
    words = [w for f in finals for w in f.alternatives[0].words]
    assert words and all(w.end_time >= w.start_time for w in words)
    assert words[-1].end_time.total_seconds() <= len(pcm) / (2 * RATE) + 0.5
    assert all(f.result_end_time.total_seconds() > 0 and f.language_code == "en-us" for f in finals)
    assert responses[-1].total_billed_time.total_seconds() == 11  # JFK is 11.0 s, billed in whole seconds


def test_single_utterance_ends_after_the_first_final_with_end_of_single_utterance(client):
    pcm, _ = jfk()
    streaming = speech.StreamingRecognitionConfig(config=config(), single_utterance=True)
    responses = list(client.streaming_recognize(streaming, at_real_time(pcm), timeout=120))
    kinds = [r.speech_event_type for r in responses]
    end = speech.StreamingRecognizeResponse.SpeechEventType.END_OF_SINGLE_UTTERANCE
    assert kinds.count(end) == 1
    after = responses[kinds.index(end) + 1:]
    assert len(finals_of(after)) == 1 and finals_of(responses) == finals_of(after)


def test_stereo_with_separate_recognition_per_channel_tags_each_channels_results(client):
    pcm, transcript = jfk()
    mono = np.frombuffer(pcm, dtype="<i2")
    stereo = np.stack([mono, np.zeros_like(mono)], axis=1).tobytes()  # JFK on the left, silence on the right
    response = client.recognize(config=config(audio_channel_count=2, enable_separate_recognition_per_channel=True),
                                audio=speech.RecognitionAudio(content=stereo), timeout=120)
    left = " ".join(r.alternatives[0].transcript for r in response.results if r.channel_tag == 1)
    assert wer(transcript, left) <= 0.15, left
    assert {r.channel_tag for r in response.results} == {1}


DIARIZATION = speech.SpeakerDiarizationConfig(enable_speaker_diarization=True, min_speaker_count=2, max_speaker_count=2)


def test_streaming_diarization_puts_a_speaker_tag_on_every_final_word(client):
    """Kennedy and the sonnets' reader take turns (tests/dialogues.py): tags 1 and 2, Kennedy first."""
    pcm = to_pcm16(two_speakers_kennedy_and_sonnets().audio)
    streaming = speech.StreamingRecognitionConfig(config=config(diarization_config=DIARIZATION), interim_results=True)
    chunks = (speech.StreamingRecognizeRequest(audio_content=pcm[i:i + 3200]) for i in range(0, len(pcm), 3200))
    responses = list(client.streaming_recognize(streaming, chunks, timeout=120))
    words = [w for f in finals_of(responses) for w in f.alternatives[0].words]
    assert words and {w.speaker_tag for w in words} == {1, 2}
    assert words[0].speaker_tag == 1 and not words[0].end_time  # word times were not asked for


def test_recognize_with_diarization_tags_the_words_of_its_results(client):
    pcm = to_pcm16(two_speakers_kennedy_and_sonnets().audio)
    response = client.recognize(config=config(diarization_config=DIARIZATION, enable_word_time_offsets=True),
                                audio=speech.RecognitionAudio(content=pcm), timeout=120)
    words = [w for r in response.results for w in r.alternatives[0].words]
    assert {w.speaker_tag for w in words} == {1, 2} and all(w.speaker_label == str(w.speaker_tag) for w in words)


def test_recognize_answers_with_the_transcript_and_billed_time(client):
    pcm, transcript = jfk()
    response = client.recognize(config=config(enable_word_confidence=True),
                                audio=speech.RecognitionAudio(content=pcm), timeout=120)
    text = " ".join(r.alternatives[0].transcript for r in response.results)
    assert wer(transcript, text) <= 0.15, text
    assert response.total_billed_time.total_seconds() == 11
    words = [w for r in response.results for w in r.alternatives[0].words]
    assert words and all(0 < w.confidence <= 1 and not w.end_time for w in words)  # confidence only


def test_long_running_recognize_result_and_get_operation(client):
    pcm, transcript = jfk()
    operation = client.long_running_recognize(config=config(), audio=speech.RecognitionAudio(content=pcm),
                                              timeout=120)
    response = operation.result(timeout=120)
    text = " ".join(r.alternatives[0].transcript for r in response.results)
    assert wer(transcript, text) <= 0.15, text
    again = client.transport.operations_client.get_operation(operation.operation.name)
    assert again.done and again.name == operation.operation.name
    with pytest.raises(exceptions.NotFound):
        client.transport.operations_client.get_operation("12345")


@pytest.mark.parametrize("fields, words", [
    ({"encoding": speech.RecognitionConfig.AudioEncoding.AMR}, "encoding AMR is not supported"),
    ({"language_code": ""}, "language_code is required"),
    ({"sample_rate_hertz": 4000}, "sample_rate_hertz must be between"),
    ({"model": "no-such-model"}, "unknown model"),
])
def test_a_config_google_would_refuse_is_invalid_argument(client, fields, words):
    pcm, _ = jfk()
    streaming = speech.StreamingRecognitionConfig(config=config(**fields))
    with pytest.raises(exceptions.InvalidArgument) as refused:
        list(client.streaming_recognize(streaming, iter([speech.StreamingRecognizeRequest(audio_content=pcm[:3200])]),
                                        timeout=60))
    assert words in refused.value.message
    with pytest.raises(exceptions.InvalidArgument):
        client.recognize(config=config(**fields), audio=speech.RecognitionAudio(content=pcm[:3200]), timeout=60)


def test_recognize_over_one_minute_is_refused_as_google_does(client):
    minute = b"\0\0" * RATE * 61
    with pytest.raises(exceptions.InvalidArgument) as refused:
        client.recognize(config=config(), audio=speech.RecognitionAudio(content=minute), timeout=60)
    assert "use LongRunningRecognize" in refused.value.message


def test_voice_activity_events_when_asked(client):
    pcm, _ = jfk()
    streaming = speech.StreamingRecognitionConfig(config=config(), enable_voice_activity_events=True)
    responses = list(client.streaming_recognize(streaming, at_real_time(pcm), timeout=120))
    kinds = speech.StreamingRecognizeResponse.SpeechEventType
    events = [r.speech_event_type for r in responses if r.speech_event_type]
    assert events[0] == kinds.SPEECH_ACTIVITY_BEGIN and kinds.SPEECH_ACTIVITY_END in events, events
    quiet = list(client.streaming_recognize(speech.StreamingRecognitionConfig(config=config()),
                                            at_real_time(pcm[:RATE * 2 * 3]), timeout=60))
    assert not [r for r in quiet if r.speech_event_type]  # none unless asked


def test_flac_is_forwarded_as_is(client):
    pcm, transcript = jfk()
    flac = jfk_file("FLAC").read_bytes()
    response = client.recognize(config=speech.RecognitionConfig(
        encoding=speech.RecognitionConfig.AudioEncoding.FLAC, language_code="en-US"),
        audio=speech.RecognitionAudio(content=flac), timeout=120)
    text = " ".join(r.alternatives[0].transcript for r in response.results)
    assert wer(transcript, text) <= 0.15, text


def test_a_stream_past_its_limit_is_out_of_range_after_its_results(core_address, tmp_path):
    bridge = start_bridge(tmp_path, "google_speech", core_address, "--max-stream-seconds", "6")
    try:
        pcm, _ = jfk()
        responses = []
        with pytest.raises(exceptions.OutOfRange) as ended:
            for response in client_of(f"127.0.0.1:{bridge.port}").streaming_recognize(
                    speech.StreamingRecognitionConfig(config=config()), at_real_time(pcm), timeout=120):
                responses.append(response)
    finally:
        bridge.stop()
    assert "maximum allowed stream duration of 6 seconds" in ended.value.message
    assert finals_of(responses), "the results of the audio before the limit come first"


def test_bearer_key_and_tls_as_googles_client_sends_them(core_address, tmp_path):
    """The client's own credentials (a static OAuth token: our API key) over TLS with our CA."""
    pki = make_pki(tmp_path)
    keys = tmp_path / "keys.toml"
    keys.write_text(KEYS_TOML)
    bridge = start_bridge(tmp_path, "google_speech", core_address, "--api-keys", str(keys),
                          "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))

    def client_with(token: str) -> speech.SpeechClient:
        return speech.SpeechClient(transport=SpeechGrpcTransport(
            host=f"localhost:{bridge.port}", credentials=Credentials(token=token),
            ssl_channel_credentials=client_credentials(pki)))
    try:
        pcm, transcript = jfk()
        request = {"config": config(), "audio": speech.RecognitionAudio(content=pcm), "timeout": 120}
        response = client_with(WEB).recognize(**request)
        with pytest.raises(exceptions.Unauthenticated) as refused:
            client_with("not-a-key-0000").recognize(**request)
    finally:
        bridge.stop()
    text = " ".join(r.alternatives[0].transcript for r in response.results)
    assert wer(transcript, text) <= 0.15, text
    assert "API key" in refused.value.message


def test_a_call_over_the_bridges_cap_is_resource_exhausted_with_retry_info(core_address, tmp_path):
    bridge = start_bridge(tmp_path, "google_speech", core_address, "--max-connections", "1")
    client = client_of(f"127.0.0.1:{bridge.port}")
    release = threading.Event()

    def held():  # an open stream holds the one place
        yield speech.StreamingRecognizeRequest(audio_content=b"\0\0" * 1600)
        release.wait(30)
    holder = threading.Thread(target=lambda: list(client.streaming_recognize(
        speech.StreamingRecognitionConfig(config=config()), held(), timeout=60)))
    holder.start()
    try:
        time.sleep(1.0)
        with pytest.raises(exceptions.ResourceExhausted) as busy:
            client.recognize(config=config(), audio=speech.RecognitionAudio(content=b"\0\0" * 1600), timeout=30)
    finally:
        release.set()
        holder.join(60)
        bridge.stop()
    retry = [d for d in busy.value.details if isinstance(d, error_details_pb2.RetryInfo)]
    assert retry and retry[0].retry_delay.seconds >= 1, busy.value.details
    assert "limit of 1" in busy.value.message


def test_on_an_insecure_channel_the_key_goes_in_the_calls_metadata(core_address, tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text(KEYS_TOML)
    bridge = start_bridge(tmp_path, "google_speech", core_address, "--api-keys", str(keys))
    client = client_of(f"127.0.0.1:{bridge.port}")
    request = {"config": config(), "audio": speech.RecognitionAudio(content=b"\0\0" * 16000), "timeout": 60}
    try:
        answer = client.recognize(**request, metadata=[("authorization", f"Bearer {WEB}")])
        with pytest.raises(exceptions.Unauthenticated):
            client.recognize(**request)
    finally:
        bridge.stop()
    assert not answer.results  # a second of silence
