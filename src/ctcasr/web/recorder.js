// AudioWorklet processor: takes the microphone at the context's rate, low-passes and downsamples it to the
// rate the page asks for (16 kHz), and posts 16-bit PCM frames of about 100 ms to the page.
class Downsampler extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.target = options.processorOptions.targetRate;
    this.ratio = sampleRate / this.target;  // `sampleRate`: the AudioContext's, a global in the worklet scope
    this.position = 1;  // where the next output sample falls, in `ext` indices (see process; fractional)
    this.previous = 0;  // the last filtered input sample of the previous block
    this.smooth = 0;    // one-pole low-pass state (anti-aliasing before decimation)
    this.alpha = Math.min(1, 2 * Math.PI * (0.45 * this.target) / sampleRate);
    this.out = [];
    this.frame = Math.round(this.target / 10);
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const channel = input[0];
    const filtered = new Float32Array(channel.length);
    for (let i = 0; i < channel.length; i++) {
      this.smooth += this.alpha * (channel[i] - this.smooth);
      filtered[i] = this.smooth;
    }
    // linear interpolation at the output instants inside [previous block's last sample, this block's last]:
    // index 0 of `ext` is the previous block's last filtered sample, index k the block's sample k - 1
    const ext = new Float32Array(filtered.length + 1);
    ext[0] = this.previous;
    ext.set(filtered, 1);
    while (this.position <= filtered.length) {
      const i = Math.floor(this.position);
      const frac = this.position - i;
      const value = i + 1 < ext.length ? ext[i] + (ext[i + 1] - ext[i]) * frac : ext[i];
      const sample = Math.max(-1, Math.min(1, value));
      this.out.push(sample < 0 ? sample * 32768 : sample * 32767);
      this.position += this.ratio;
    }
    this.position -= filtered.length;
    this.previous = filtered[filtered.length - 1];
    if (this.out.length >= this.frame) {
      const pcm = Int16Array.from(this.out);
      this.out = [];
      this.port.postMessage(pcm.buffer, [pcm.buffer]);
    }
    return true;
  }
}

registerProcessor("downsampler", Downsampler);
