"""Compressed audio through the gRPC API: FLAC, MP3, Opus in Ogg and WebM, G.711, AUTO (docs/audio.md).

Every encoding of JFK's 11 s must give the words the 16 kHz PCM of the same recording gives. Finals
are cut with accurate segmentation: its cuts do not hang on a pause a codec shortens by a frame.
"""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
from asr.v1 import asr_pb2

from core_service.audio import AudioFormatError
from core_service.container_audio import ContainerDecoder, ContainerLimits
from tests.audio_fixtures import normalized_words, to_pcm16, wer
from tests.encoded_audio import CONTAINERS, TELEPHONY_RATE, jfk, jfk_file, jfk_g711

from .grpc_helpers import audio_requests, config, recognize, recognize_sync

PIECE = 4096
ACCURATE = asr_pb2.SEGMENTATION_ACCURATE


def encoding(name: str) -> int:
    return getattr(asr_pb2, "AUDIO_ENCODING_" + name)


def secs(d) -> float:
    return d.seconds + d.nanos / 1e9


@pytest.fixture(scope="module")
def pcm_words(core_address) -> str:
    call = asyncio.run(recognize(core_address, [config(segmentation=ACCURATE), *audio_requests(to_pcm16(jfk()))]))
    assert call.code.name == "OK", call.message
    return normalized_words(call.transcript)


@pytest.mark.parametrize("name", CONTAINERS)
async def test_container_in_4k_pieces_gives_the_words_of_pcm(core_address, pcm_words, name):
    data = jfk_file(name).read_bytes()
    call = await recognize(core_address, [config(encoding=encoding(name), segmentation=ACCURATE),
                                          *audio_requests(data, PIECE)])
    assert call.code.name == "OK", call.message
    assert normalized_words(call.transcript) == pcm_words
    started = call.of("session_started")[0].resolved_config
    assert started.encoding == encoding(name) and started.sample_rate_hertz == 0  # the stream's own
    # MP3 adds its encoder's delay and padding (LAME: up to 1152 + 1105 samples at 16 kHz)
    assert secs(call.of("summary")[0].audio_processed) == pytest.approx(len(jfk()) / 16000, abs=0.15)


@pytest.mark.parametrize("name", CONTAINERS)
async def test_auto_detects_the_container(core, pcm_words, name):
    session = f"auto-{name.lower()}"
    data = jfk_file(name).read_bytes()
    call = await recognize(core.address, [config(encoding=asr_pb2.AUDIO_ENCODING_AUTO, segmentation=ACCURATE,
                                                 session_id=session), *audio_requests(data, PIECE)])
    assert call.code.name == "OK", call.message
    assert normalized_words(call.transcript) == pcm_words
    container = {"FLAC": "flac/flac", "MP3": "mp3/mp3", "OGG_OPUS": "ogg/opus", "WEBM_OPUS": "matroska,webm/opus"}
    assert f"session {session!r}: AUTO stream is {container[name]}" in core.log()


def ffmpeg_decoded(law: str, data: bytes) -> bytes:
    """G.711 bytes decoded by FFmpeg's pcm_mulaw/pcm_alaw: 8 kHz LINEAR16."""
    import av

    codec = av.CodecContext.create("pcm_mulaw" if law == "MULAW" else "pcm_alaw", "r")
    codec.sample_rate, codec.layout = TELEPHONY_RATE, "mono"
    return b"".join(f.to_ndarray().astype("<i2").tobytes() for f in codec.decode(av.Packet(data)))


@pytest.mark.parametrize("law", ["MULAW", "ALAW"])
async def test_g711_at_8_khz_gives_the_words_of_pcm(core_address, pcm_words, law):
    """G.711's 8-bit companding costs one word of JFK's 22, measured: "Americans" loses its final
    /s/ (a quiet fricative, quantised away) and comes out "America", with μ-law and A-law alike,
    while the same speech as 8 kHz LINEAR16 keeps it. The core's decoding adds nothing to that
    loss: it hears exactly what FFmpeg's decoder makes of the bytes."""
    data = jfk_g711(law)
    call = await recognize(core_address, [config(encoding=encoding(law), segmentation=ACCURATE),
                                          *audio_requests(data, 160)])  # 20 ms packets, as RTP carries them
    assert call.code.name == "OK", call.message
    assert call.of("session_started")[0].resolved_config.sample_rate_hertz == TELEPHONY_RATE  # 0 = 8 kHz for G.711
    reference = await recognize(core_address, [
        config(sample_rate_hertz=TELEPHONY_RATE, segmentation=ACCURATE),
        *audio_requests(ffmpeg_decoded(law, data), 320)])
    assert normalized_words(call.transcript) == normalized_words(reference.transcript)
    assert wer(pcm_words, call.transcript) <= 1 / 22, call.transcript


def test_g711_tables_match_ffmpeg():
    """The core's lookup tables decode all 256 codes as FFmpeg's pcm_mulaw and pcm_alaw do."""
    import av

    from core_service.audio import AudioDecoder

    for law, codec_name in (("MULAW", "pcm_mulaw"), ("ALAW", "pcm_alaw")):
        codec = av.CodecContext.create(codec_name, "r")
        codec.sample_rate, codec.layout = 16000, "mono"
        (frame,) = codec.decode(av.Packet(bytes(range(256))))
        ours = AudioDecoder(law, 16000, 1).decode(bytes(range(256)))
        np.testing.assert_array_equal(ours * 32768, frame.to_ndarray().reshape(-1).astype(np.float32))


async def test_garbage_after_good_opus_ends_with_invalid_argument_after_its_finals(core_address, pcm_words):
    good = jfk_file("OGG_OPUS").read_bytes()
    garbage = np.random.default_rng(26).integers(0, 256, 256 * 1024, dtype=np.uint8).tobytes()
    requests = [config(encoding=asr_pb2.AUDIO_ENCODING_OGG_OPUS, segmentation=ACCURATE),
                *audio_requests(good + garbage, PIECE)]
    # the sync client: the server ends the call while the client still writes (grpc/grpc#36066)
    call = await asyncio.to_thread(recognize_sync, core_address, requests)
    assert call.code.name == "INVALID_ARGUMENT", call.message
    assert call.message.startswith("audio is not valid OGG_OPUS: ") and "/" not in call.message, call.message
    assert call.field_violations == ["audio"]
    assert normalized_words(call.transcript) == pcm_words  # the good audio's finals came first
    assert call.of("summary")[0].transcript == call.transcript


async def test_headerless_stream_is_invalid_argument_naming_the_encoding(core_address):
    requests = [config(encoding=asr_pb2.AUDIO_ENCODING_AUTO), *audio_requests(bytes(2 << 20), PIECE)]
    call = await asyncio.to_thread(recognize_sync, core_address, requests)
    assert call.code.name == "INVALID_ARGUMENT", call.message
    assert "AUTO" in call.message and call.results == []


@pytest.mark.parametrize("name", ["MP3", "FLAC", "AUTO"])
async def test_decoder_holds_at_most_its_bound_of_undecoded_bytes(name):
    """A header-less stream of 8 MiB (zeros) never puts more than the bound in the decoder's
    hands: the message that would pass it fails, naming the encoding."""
    bound = 256 * 1024
    decoder = ContainerDecoder(name, ContainerLimits(max_undecoded_bytes=bound))
    sent = 0
    try:
        with pytest.raises(AudioFormatError, match=name):
            while sent < 8 << 20:
                async for _ in decoder.pieces(bytes(PIECE)):
                    pytest.fail("zeros decoded as audio")
                sent += PIECE
                assert decoder.undecoded_bytes <= bound
    finally:
        decoder.close()
    assert sent < 8 << 20 and decoder.peak_undecoded_bytes <= bound


async def test_webm_in_mediarecorder_sized_chunks_decodes_as_they_arrive():
    """Chunks of arbitrary size (a browser's timeslice): audio comes out before the stream ends."""
    data = jfk_file("WEBM_OPUS").read_bytes()
    decoder = ContainerDecoder("WEBM_OPUS", ContainerLimits())
    seconds_before_end = []
    try:
        for start in range(0, len(data), 3001):  # boundaries unrelated to Matroska's blocks
            async for samples in decoder.pieces(data[start:start + 3001]):
                seconds_before_end.append(samples.size / 16000)
        tail = [samples.size / 16000 async for samples in decoder.finish()]
    finally:
        decoder.close()
    assert sum(seconds_before_end) > 10.0 and sum(seconds_before_end) + sum(tail) == pytest.approx(11.0, abs=0.05)


async def test_list_engines_reports_every_encoding(core_address):
    import grpc

    from asr.v1 import asr_pb2_grpc

    async with grpc.aio.insecure_channel(core_address) as channel:
        reply = await asr_pb2_grpc.RecognizerServiceStub(channel).ListEngines(asr_pb2.ListEnginesRequest(), timeout=30)
    names = {asr_pb2.AudioEncoding.Name(e) for e in reply.audio_encodings}
    assert names == {n for n in asr_pb2.AudioEncoding.keys() if n != "AUDIO_ENCODING_UNSPECIFIED"}


async def test_separate_recognition_needs_the_streams_channel_count(core_address):
    """Rate and channels come from a compressed stream; with per-channel recognition the config's
    audio_channel_count must match the stream's (JFK is mono)."""
    requests = [config(encoding=asr_pb2.AUDIO_ENCODING_FLAC, audio_channel_count=2,
                       enable_separate_recognition_per_channel=True),
                *audio_requests(jfk_file("FLAC").read_bytes(), PIECE)]
    call = await asyncio.to_thread(recognize_sync, core_address, requests)
    assert call.code.name == "INVALID_ARGUMENT", call.message
    assert "1 channel(s)" in call.message and "audio_channel_count" in call.message, call.message
