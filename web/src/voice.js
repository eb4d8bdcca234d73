// Voice mode: the microphone button. Streams the mic as 24 kHz PCM16 over the Realtime
// WebSocket (/v1/realtime), plays the answer's audio as it arrives, shows both sides'
// transcripts live, and stops playback when the user starts speaking: the server cancels
// the answer itself, and conversation.item.truncate tells it how much was really heard
// (the answer is often fully generated but still playing). Each finished exchange is
// handed to onTurn(userText, answerText), which stores it in the conversation shown.
// #voice-panel's data-* attributes let tests watch it.
export function initVoice({ model: getModel, onTurn, onStop }) {

  const RATE = 24000;
  let ws = null, ctx = null, stream = null, node = null, playAt = 0, sources = [];
  let userEl = null, botEl = null;
  let answer = null;   // the transcript line of the response in progress (kept when the user cuts in)
  // the assistant item being played and its scheduled pieces: [{start (s), len (samples)}]
  let playItem = null, played = [];

  const panel = document.getElementById("voice-panel");
  const mic = document.getElementById("mic");
  let lastUser = "";
  const status = (s) => { panel.dataset.state = s; document.getElementById("voice-status").textContent = mic.getAttribute("aria-label") + ": " + s; };
  function line(cls) {
    const d = document.createElement("div");
    d.className = "voice-line " + cls;
    document.getElementById("voice-log").appendChild(d);
    return d;
  }
  function stopPlayback() {
    for (const s of sources) { try { s.stop(); } catch {} }
    sources = [];
    playAt = 0;
  }
  // Samples of playItem heard so far, and whether some of it is still to come.
  function heard() {
    let n = 0, total = 0;
    const now = ctx ? ctx.currentTime : 0;
    for (const p of played) {
      total += p.len;
      n += Math.max(0, Math.min(p.len, Math.floor((now - p.start) * RATE)));
    }
    return { n, unplayed: n < total };
  }
  function interrupt() {
    if (playItem && ws && ws.readyState === 1) {
      const h = heard();
      if (h.unplayed) {
        ws.send(JSON.stringify({ type: "conversation.item.truncate", item_id: playItem, content_index: 0,
                                 audio_end_ms: Math.floor(h.n / (RATE / 1000)) }));
        panel.dataset.truncates = String(+(panel.dataset.truncates || 0) + 1);
      }
    }
    playItem = null;
    played = [];
    stopPlayback();
  }
  function play(b64, item) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const pcm = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
    const buf = ctx.createBuffer(1, pcm.length, RATE), f = buf.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 32768;
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(ctx.destination);
    playAt = Math.max(playAt, ctx.currentTime + 0.05);
    src.start(playAt);
    if (item !== playItem) { playItem = item; played = []; }
    played.push({ start: playAt, len: pcm.length });
    playAt += buf.duration;
    sources.push(src);
    src.onended = () => { sources = sources.filter((s) => s !== src); };
    panel.dataset.audioChunks = String(+panel.dataset.audioChunks + 1);
  }
  function onEvent(ev) {
    switch (ev.type) {
      case "session.created": status("listening"); break;
      case "input_audio_buffer.speech_started":
        interrupt(); // interrupting by speaking: the server cancels the answer, we say what was heard
        userEl = line("user"); botEl = null; status("hearing you"); break;
      case "conversation.item.input_audio_transcription.delta":
        (userEl ||= line("user")).textContent += ev.delta; break;
      case "conversation.item.input_audio_transcription.completed":
        (userEl ||= line("user")).textContent = ev.transcript;
        lastUser = ev.transcript || "";
        panel.dataset.userTranscripts = String(+(panel.dataset.userTranscripts || 0) + 1); break;
      case "response.created": botEl = answer = line("assistant"); status("answering"); break;
      case "response.output_audio_transcript.delta": case "response.output_text.delta":
        (botEl ||= line("assistant")).textContent += ev.delta;
        answer ||= botEl;
        panel.dataset.assistantText = "1"; break;
      case "response.output_audio.delta": play(ev.delta, ev.item_id); break;
      case "response.done":
        // the exchange, also when the user cut in: what was said of the answer so far
        if (answer && onTurn) { onTurn(lastUser, answer.textContent); lastUser = ""; answer = null; }
        status(ev.response.status === "cancelled" ? "interrupted — listening" : "listening");
        panel.dataset.responses = String(+(panel.dataset.responses || 0) + 1); break;
      case "conversation.item.truncated":
        panel.dataset.truncated = String(+(panel.dataset.truncated || 0) + 1); break;
      case "error": line("error").textContent = ev.error.message; break;
    }
  }
  async function start() {
    const model = getModel() || "";
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/realtime" +
      (model ? "?model=" + encodeURIComponent(model) : "");
    status("starting");
    panel.hidden = false;
    mic.classList.add("on");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
      ctx = new AudioContext({ sampleRate: RATE });
      await ctx.audioWorklet.addModule("/voice-worklet.js");
      ws = new WebSocket(url, ["realtime"]);   // the login cookie goes with it
      ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { console.error(e); } };
      ws.onclose = () => { if (ws) stop("disconnected"); };
      await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error("cannot connect to " + url)); });
      ws.send(JSON.stringify({ type: "session.update", session: { type: "realtime",
        audio: { input: { format: { type: "audio/pcm", rate: RATE }, transcription: { model: "whisper-1" },
                          turn_detection: { type: "semantic_vad", eagerness: "auto" } } } } }));   // the end of a turn follows what was said
      node = new AudioWorkletNode(ctx, "pcm-capture");
      node.port.onmessage = (m) => {
        if (ws && ws.readyState === 1) {
          const b = new Uint8Array(m.data);
          let s = "";
          for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
          ws.send(JSON.stringify({ type: "input_audio_buffer.append", audio: btoa(s) }));
        }
      };
      ctx.createMediaStreamSource(stream).connect(node);
    } catch (e) {
      stop("error: " + (e.message || e));
    }
  }
  function stop(why) {
    const w = ws;
    ws = null;
    if (w) try { w.close(); } catch {}
    stopPlayback();
    if (node) node.disconnect();
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ctx) ctx.close();
    node = stream = ctx = null;
    mic.classList.remove("on");
    status(why || "off");
    if (onStop) onStop();
  }
  mic.addEventListener("click", () => (ws || ctx ? stop() : start()));
}
