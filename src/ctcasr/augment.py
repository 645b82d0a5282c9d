"""Waveform augmentations applied per utterance in the data loader.

Speaker and tempo: speed perturbation. Channel: gain, coloured noise, telephone band (resampled to 8 kHz and back,
with a random high-pass), codec distortion (G.711 mu-law or GSM 06.10 through libsndfile), a random microphone
equaliser, synthetic room reverberation. Segmentation: word-aligned crops (a run of one to a few words cut out of
an utterance whose manifest has word times, `ctcasr align`), and trimming of leading and trailing silence, so that
short, tightly cut single words look like training data. Vocal-tract-length perturbation is done on the spectrum, in
`features.LogMel` (it needs the STFT).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import soxr

from ctcasr.features import SpecAugmentConfig
from ctcasr.schema import limits

PROBABILITY = limits(0, 1)
CODECS = ("mulaw", "gsm")


@dataclass
class AugmentConfig:
    """Each augmentation is drawn per utterance with its probability; ranges are [low, high]."""

    speed_prob: float = field(default=0.0, metadata=PROBABILITY)
    speeds: list[float] = field(default_factory=lambda: [0.9, 1.1])  # uniform range [min, max]
    gain_prob: float = field(default=0.0, metadata=PROBABILITY)
    gain_db: list[float] = field(default_factory=lambda: [-6.0, 6.0])
    noise_prob: float = field(default=0.0, metadata=PROBABILITY)
    noise_snr_db: list[float] = field(default_factory=lambda: [10.0, 40.0])
    noise_colors: list[str] = field(default_factory=lambda: ["white", "pink", "brown"],
                                    metadata=limits(choices=("white", "pink", "brown")))
    # telephone band: resampled to 8 kHz and back (nothing above 4 kHz), then a random high-pass
    telephone_prob: float = field(default=0.0, metadata=PROBABILITY)
    telephone_highpass_hz: list[float] = field(default_factory=lambda: [0.0, 300.0], metadata=limits(0, 3000))
    # telephone codecs at 8 kHz (G.711 mu-law, GSM 06.10)
    codec_prob: float = field(default=0.0, metadata=PROBABILITY)
    codecs: list[str] = field(default_factory=lambda: ["mulaw", "gsm"], metadata=limits(choices=CODECS))
    # another microphone: a random smooth tilt and bumps of at most eq_db
    eq_prob: float = field(default=0.0, metadata=PROBABILITY)
    eq_db: float = field(default=6.0, metadata=limits(0, 40))
    # a synthetic room impulse response
    reverb_prob: float = field(default=0.0, metadata=PROBABILITY)
    reverb_rt60: list[float] = field(default_factory=lambda: [0.15, 0.7])  # reverberation time, seconds
    # a run of crop_words[0]..crop_words[1] words cut out of an utterance with word times (its text cut to match),
    # at random points in the gaps around it; utterances without word times are left whole
    crop_prob: float = field(default=0.0, metadata=PROBABILITY)
    crop_words: list[int] = field(default_factory=lambda: [1, 3], metadata=limits(1))
    # leading and trailing silence cut down to a random margin (seconds kept each side)
    trim_prob: float = field(default=0.0, metadata=PROBABILITY)
    trim_margin: list[float] = field(default_factory=lambda: [0.0, 0.1], metadata=limits(0))
    # vocal tract length perturbation (applied in LogMel, on the spectrum)
    vtlp_prob: float = field(default=0.0, metadata=PROBABILITY)
    vtlp_range: list[float] = field(default_factory=lambda: [0.9, 1.1])
    spec_augment: SpecAugmentConfig | None = field(default_factory=SpecAugmentConfig)


def speed_perturb(wave: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Play `factor` times faster (tempo and pitch together, like sox `speed`)."""
    if abs(factor - 1.0) < 1e-3:
        return wave
    return soxr.resample(wave, sample_rate * factor, sample_rate, quality="MQ").astype(np.float32, copy=False)


def apply_gain(wave: np.ndarray, gain_db: float) -> np.ndarray:
    return np.clip(wave * (10.0 ** (gain_db / 20.0)), -1.0, 1.0).astype(np.float32, copy=False)


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise of unit power."""
    white = rng.standard_normal(n)
    if color != "white":
        spectrum = np.fft.rfft(white)
        f = np.arange(1, spectrum.size + 1, dtype=np.float64)
        spectrum /= np.sqrt(f) if color == "pink" else f
        white = np.fft.irfft(spectrum, n)
    return white / (np.sqrt(np.mean(white**2)) + 1e-12)


def add_noise(wave: np.ndarray, snr_db: float, color: str, rng: np.random.Generator) -> np.ndarray:
    signal_power = float(np.mean(wave**2)) + 1e-10
    noise = colored_noise(wave.size, color, rng) * np.sqrt(signal_power / 10.0 ** (snr_db / 10.0))
    return (wave + noise).astype(np.float32)


def fft_filter(wave: np.ndarray, sample_rate: int, gain: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Multiply the spectrum by a gain curve given at `freqs` (Hz, linear gain), interpolated to every bin."""
    spectrum = np.fft.rfft(wave.astype(np.float64))
    bins = np.fft.rfftfreq(wave.size, 1.0 / sample_rate)
    spectrum *= np.interp(bins, freqs, gain)
    return np.fft.irfft(spectrum, wave.size).astype(np.float32)


def telephone_band(wave: np.ndarray, sample_rate: int, highpass_hz: float = 0.0) -> np.ndarray:
    """Telephone channel: through 8 kHz sampling (nothing above 4 kHz survives), optionally without the lows."""
    narrow = soxr.resample(wave, sample_rate, 8000, quality="HQ")
    if highpass_hz > 0:
        ramp = np.array([0.0, 0.0, 1.0, 1.0])
        narrow = fft_filter(narrow, 8000, ramp, np.array([0.0, highpass_hz * 0.5, highpass_hz, 4000.0]))
    out = soxr.resample(narrow, 8000, sample_rate, quality="HQ")
    return _fit(out.astype(np.float32), wave.size)


def _fit(wave: np.ndarray, n: int) -> np.ndarray:
    """Pad or cut to exactly `n` samples (resampling round trips can be a sample off)."""
    return wave[:n] if wave.size >= n else np.pad(wave, (0, n - wave.size))


def mu_law(wave: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """G.711-style mu-law companding quantised to 8 bits, and back."""
    x = np.clip(wave, -1.0, 1.0)
    coded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    coded = np.round((coded + 1.0) * 127.5) / 127.5 - 1.0
    return (np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu).astype(np.float32)


def codec(wave: np.ndarray, sample_rate: int, name: str) -> np.ndarray:
    """Telephone codec round trip at 8 kHz: `mulaw` (G.711) or `gsm` (GSM 06.10 full rate, via libsndfile)."""
    narrow = soxr.resample(wave, sample_rate, 8000, quality="HQ").astype(np.float32)
    if name == "mulaw":
        narrow = mu_law(narrow)
    elif name == "gsm":
        buffer = io.BytesIO()
        sf.write(buffer, np.clip(narrow, -1.0, 1.0), 8000, format="WAV", subtype="GSM610")
        buffer.seek(0)
        narrow = sf.read(buffer, dtype="float32")[0]
    else:
        raise ValueError(f"unknown codec {name!r}")
    return _fit(soxr.resample(narrow, 8000, sample_rate, quality="HQ").astype(np.float32), wave.size)


def random_eq(wave: np.ndarray, sample_rate: int, max_db: float, rng: np.random.Generator) -> np.ndarray:
    """A random smooth gain curve (a tilt plus bumps at 6 log-spaced points, within +-max_db)."""
    freqs = np.geomspace(50.0, sample_rate / 2, 8)
    tilt = np.linspace(-1.0, 1.0, freqs.size) * rng.uniform(-max_db, max_db) / 2
    db = np.clip(tilt + rng.uniform(-max_db / 2, max_db / 2, freqs.size), -max_db, max_db)
    return fft_filter(wave, sample_rate, 10.0 ** (db / 20.0), freqs)


def room_impulse(sample_rate: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: the direct path, then exponentially decaying noise (60 dB down after `rt60` seconds)
    with sparse early reflections; high frequencies decay faster (a one-pole low-pass on the tail)."""
    n = max(int(rt60 * sample_rate), 16)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    early = np.zeros(n)
    spikes = rng.integers(int(0.002 * sample_rate), max(int(0.05 * sample_rate), 2), 6)
    early[np.minimum(spikes, n - 1)] = rng.uniform(0.2, 0.6, 6) * rng.choice([-1, 1], 6)
    import scipy.signal  # here: importing it costs inference 1-2 s of start-up

    a = rng.uniform(0.3, 0.8)  # a one-pole low-pass keeps the tail darker than white noise
    smooth = scipy.signal.lfilter([1 - a], [1, -a], tail)
    rir = early + smooth * rng.uniform(0.1, 0.3)
    rir[0] = 1.0
    return rir / np.sqrt(np.sum(rir**2))


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with `rir` (FFT), keep the original length and level."""
    n = wave.size + rir.size - 1
    size = 1 << (n - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(wave, size) * np.fft.rfft(rir, size), size)[: wave.size]
    scale = np.sqrt((np.mean(wave.astype(np.float64) ** 2) + 1e-12) / (np.mean(out**2) + 1e-12))
    return (out * scale).astype(np.float32)


def frame_power(wave: np.ndarray, frame: int) -> np.ndarray:
    """Mean power of each whole `frame`-sample frame of `wave` (a trailing partial frame is left out)."""
    count = wave.size // frame
    return np.mean(wave[: count * frame].reshape(count, frame) ** 2, axis=1)


def speech_span(wave: np.ndarray, sample_rate: int, floor_db: float = 35.0) -> tuple[int, int]:
    """(first, last) sample of the region whose 10 ms energy is within `floor_db` of the loudest frame."""
    frame = max(int(0.01 * sample_rate), 1)
    if wave.size // frame < 3:
        return 0, wave.size
    energy = 10 * np.log10(frame_power(wave, frame) + 1e-10)
    loud = np.flatnonzero(energy > energy.max() - floor_db)
    return int(loud[0]) * frame, min((int(loud[-1]) + 1) * frame, wave.size)


def trim_silence(wave: np.ndarray, sample_rate: int, margins: tuple[float, float]) -> np.ndarray:
    """Cut leading/trailing silence down to `margins` seconds (never cutting into the speech span)."""
    first, last = speech_span(wave, sample_rate)
    start = max(0, first - int(margins[0] * sample_rate))
    end = min(wave.size, last + int(margins[1] * sample_rate))
    return wave[start:end] if end - start >= sample_rate // 10 else wave


def quietest(wave: np.ndarray, sample_rate: int, left: float, right: float) -> float:
    """The middle (seconds) of the quietest 10 ms frame between `left` and `right` seconds; their middle when the
    gap is shorter than a frame."""
    frame = max(int(0.01 * sample_rate), 1)
    a, b = int(left * sample_rate), min(int(right * sample_rate), wave.size)
    if (b - a) // frame < 1:
        return (left + right) / 2
    energy = frame_power(wave[a:b].astype(np.float64), frame)
    return (a + (int(np.argmin(energy)) + 0.5) * frame) / sample_rate


def cut_points(wave: np.ndarray, sample_rate: int, words: list[list[float]], first: int, stop: int,
               rng: np.random.Generator | None = None, jitter: float = 0.015) -> tuple[float, float]:
    """(start, end) seconds of the audio of words[first:stop]: each cut at the quietest point of the gap to the
    neighbouring word (an alignment's word times mark CTC spikes, and half-way between them is often inside a
    word: 5 dB above the gap's quietest point in the median on AN4 dev); with `rng` moved by up to `jitter`
    seconds, within the gap. The utterance's own edges at either end."""

    def cut(left: float, right: float) -> float:
        point = quietest(wave, sample_rate, left, right)
        if rng is not None:
            point = min(max(point + rng.uniform(-jitter, jitter), left), right)
        return point

    start = 0.0 if first == 0 else cut(words[first - 1][1], words[first][0])
    end = wave.size / sample_rate if stop >= len(words) else cut(words[stop - 1][1], words[stop][0])
    return start, end


class WaveAugment:
    """Applies the configured augmentations with their probabilities; one instance per data loader worker."""

    def __init__(self, config: AugmentConfig, sample_rate: int, seed: int | None = None):
        self.config = config
        self.sample_rate = sample_rate
        self.rng = np.random.default_rng(seed)

    def crop(self, wave: np.ndarray, words: list[list[float]] | None) -> tuple[np.ndarray, int, int] | None:
        """Maybe a word-aligned crop: (audio of words[first:stop], first, stop); None leaves the utterance whole."""
        c, rng = self.config, self.rng
        if not (c.crop_prob and words and len(words) > 1 and rng.random() < c.crop_prob):
            return None
        count = int(rng.integers(c.crop_words[0], min(c.crop_words[1], len(words)) + 1))
        first = int(rng.integers(0, len(words) - count + 1))
        start, end = cut_points(wave, self.sample_rate, words, first, first + count, rng)
        return wave[int(start * self.sample_rate):int(end * self.sample_rate)], first, first + count

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        c, rng = self.config, self.rng
        if c.speed_prob and rng.random() < c.speed_prob:
            wave = speed_perturb(wave, rng.uniform(*c.speeds), self.sample_rate)
        sr = self.sample_rate
        if c.trim_prob and rng.random() < c.trim_prob:
            wave = trim_silence(wave, sr, (rng.uniform(*c.trim_margin), rng.uniform(*c.trim_margin)))
        if c.reverb_prob and rng.random() < c.reverb_prob:
            wave = reverberate(wave, room_impulse(sr, rng.uniform(*c.reverb_rt60), rng))
        if c.eq_prob and rng.random() < c.eq_prob:
            wave = random_eq(wave, sr, c.eq_db, rng)
        if c.noise_prob and rng.random() < c.noise_prob:
            wave = add_noise(wave, rng.uniform(*c.noise_snr_db), str(rng.choice(c.noise_colors)), rng)
        if c.codec_prob and rng.random() < c.codec_prob:
            wave = codec(wave, sr, str(rng.choice(c.codecs)))
        elif c.telephone_prob and rng.random() < c.telephone_prob:
            wave = telephone_band(wave, sr, rng.uniform(*c.telephone_highpass_hz))
        if c.gain_prob and rng.random() < c.gain_prob:
            wave = apply_gain(wave, rng.uniform(*c.gain_db))
        return wave

    def vtlp_factor(self) -> float:
        """A warp factor for this utterance's spectrum (1.0 when VTLP is off or not drawn)."""
        c = self.config
        return float(self.rng.uniform(*c.vtlp_range)) if c.vtlp_prob and self.rng.random() < c.vtlp_prob else 1.0
