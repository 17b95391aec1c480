// The gantry dashboard: runs (live), a run (stage graph, images, live log),
// environments (Promote / Rollback). Plain DOM, no framework. Tokens are kept
// in sessionStorage and sent as "Authorization: Bearer" headers, never cookies.

const view = document.getElementById('view');
const message = document.getElementById('message');
const live = document.getElementById('live');
let leave = () => {};  // cleanup of the current page (streams, listeners)
const listeners = new Set();  // (event) => void, for the current page

// ---- tokens and requests ---------------------------------------------------

function token() { return sessionStorage.getItem('gantry.token') || ''; }

function askToken(why) {
  const dialog = document.getElementById('token-dialog');
  document.getElementById('token-why').textContent = why;
  const input = document.getElementById('token-input');
  input.value = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (dialog.returnValue === 'ok' && input.value) {
        sessionStorage.setItem('gantry.token', input.value.trim());
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    dialog.showModal();
  });
}

function headers(extra = {}) {
  const h = { ...extra };
  if (token()) h.Authorization = 'Bearer ' + token();
  return h;
}

async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await fetch(path, { ...options, headers: headers(options.headers || {}) });
    if (res.status === 401) {
      const body = await res.json().catch(() => ({}));
      const ok = await askToken((options.method === 'POST' ? 'This action' : 'Reading this server') +
                                ' needs a token: ' + (body.detail || 'unauthorized'));
      if (!ok) throw new Error(body.detail || 'unauthorized');
      continue;
    }
    const type = res.headers.get('content-type') || '';
    const body = type.startsWith('application/json') ? await res.json() : await res.text();
    if (!res.ok) {
      const err = new Error(body && body.detail ? body.detail : (body.error || res.statusText));
      err.status = res.status;
      throw err;
    }
    return body;
  }
  throw new Error('unauthorized');
}

function say(text, isError = false) {
  message.hidden = !text;
  message.textContent = text || '';
  message.className = isError ? 'error' : '';
}

// ---- server-sent events over fetch (so the token can be a header) ---------

function parseEvent(block) {
  const ev = { type: 'message', data: '', id: '' };
  let any = false;
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') { ev.type = value; any = true; }
    else if (field === 'data') { ev.data += (ev.data && any ? '\n' : '') + value; any = true; }
    else if (field === 'id') ev.id = value;
  }
  return any ? ev : null;
}

// Calls onEvent for each event until the stream ends or signal aborts.
async function stream(path, onEvent, signal) {
  const res = await fetch(path, { headers: headers({ Accept: 'text/event-stream' }), signal });
  if (res.status === 401) {
    if (await askToken('Reading this server needs a token.')) return stream(path, onEvent, signal);
    return;
  }
  if (!res.ok) throw new Error(path + ': ' + res.status);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let i;
    while ((i = buffer.indexOf('\n\n')) >= 0) {
      const ev = parseEvent(buffer.slice(0, i));
      buffer = buffer.slice(i + 2);
      if (ev) onEvent(ev);
    }
  }
}

async function followEvents() {
  for (;;) {
    try {
      live.className = 'live on';
      await stream('/api/v1/events', (ev) => {
        let data = null;
        try { data = JSON.parse(ev.data); } catch { return; }
        for (const fn of listeners) fn({ type: ev.type, data });
      });
    } catch { /* reconnect below */ }
    live.className = 'live off';
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---- helpers ----------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const badge = (status) => el('span', { class: 'badge ' + status }, status);
const short = (s, n = 12) => (s || '').slice(0, n);
const shortDigest = (d) => (d || '').replace('sha256:', '').slice(0, 12);
function duration(s) {
  if (s === null || s === undefined) return '';
  if (s < 60) return s.toFixed(1) + ' s';
  return Math.floor(s / 60) + ' m ' + Math.round(s % 60) + ' s';
}
function when(t) { return t ? new Date(t).toLocaleString() : ''; }
function debounce(fn, ms) {
  let t = null;
  return () => { clearTimeout(t); t = setTimeout(fn, ms); };
}

// ---- pages ------------------------------------------------------------------

async function runsPage(params) {
  const project = params.get('project') || '';
  const before = params.get('before') || '';
  const query = new URLSearchParams({ limit: '50' });
  if (project) query.set('project', project);
  if (before) query.set('before', before);
  const tbody = el('tbody');
  const table = el('table', { id: 'runs' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Status'), el('th', {}, 'Project'), el('th', {}, 'Commit'),
      el('th', { class: 'hide-narrow' }, 'Branch'), el('th', { class: 'hide-narrow' }, 'Duration'), el('th', {}, 'Started'))),
    tbody);
  const pager = el('div', { class: 'pager' });
  view.replaceChildren(el('h1', {}, project ? 'Runs of ' + project : 'Runs'), table, pager);
  const load = async () => {
    const page = await api('/api/v1/runs?' + query);
    tbody.replaceChildren(...page.runs.map((r) => el('tr', { 'data-id': r.id, 'data-status': r.status },
      el('td', { class: 'status' }, badge(r.status)),
      el('td', {}, el('a', { href: '#/?project=' + encodeURIComponent(r.project) }, r.project)),
      el('td', {}, el('a', { href: '#/run/' + r.id }, el('code', {}, short(r.commit) || r.rev)), ' ',
        el('span', { class: 'subject' }, r.subject || (r.error ? '— ' + r.error : ''))),
      el('td', { class: 'hide-narrow' }, r.branch),
      el('td', { class: 'hide-narrow' }, duration(r.seconds)),
      el('td', {}, when(r.started)))));
    if (!page.runs.length) tbody.append(el('tr', {}, el('td', { colspan: '6' }, 'No runs yet.')));
    pager.replaceChildren(...(page.next_before
      ? [el('a', { href: '#/?' + new URLSearchParams({ ...(project ? { project } : {}), before: page.next_before }) }, 'Older runs →')]
      : []));
  };
  await load();
  const reload = debounce(() => load().catch((e) => say(e.message, true)), 150);
  const onEvent = (ev) => { if (ev.type === 'run' && !before) reload(); };
  listeners.add(onEvent);
  return () => listeners.delete(onEvent);
}

// Columns: environments in order; inside one, stages by depth of `needs`.
function drawGraph(graph, stages, onSelect) {
  const status = new Map(stages.map((s) => [s.name, s.cached && s.status === 'passed' ? 'cached' : s.status]));
  const byEnv = new Map(graph.environments.map((e) => [e.name, []]));
  for (const s of graph.stages) (byEnv.get(s.environment) || byEnv.set(s.environment, []).get(s.environment)).push(s);
  const depth = new Map();
  const depthOf = (s) => {
    if (depth.has(s.name)) return depth.get(s.name);
    depth.set(s.name, 0);
    let d = 0;
    for (const n of s.needs) {
      const need = graph.stages.find((x) => x.name === n);
      if (need && need.environment === s.environment) d = Math.max(d, depthOf(need) + 1);
    }
    depth.set(s.name, d);
    return d;
  };
  const W = 150, H = 44, GAP = 24, pos = new Map();
  let x = 10, maxY = 0;
  const root = svg('svg', { role: 'img', 'aria-label': 'stage graph' });
  const edges = svg('g'), nodes = svg('g'), labels = svg('g');
  graph.environments.forEach((env, ei) => {
    const list = byEnv.get(env.name) || [];
    const cols = [];
    for (const s of list) (cols[depthOf(s)] ||= []).push(s);
    labels.append(svg('text', { class: 'env', x, y: 16 }, env.name));
    if (env.manual) labels.append(svg('text', { class: 'gate', x, y: 30 }, 'manual gate'));
    cols.forEach((col, ci) => col.forEach((s, ri) => {
      const px = x + ci * (W + GAP), py = 40 + ri * (H + 12);
      pos.set(s.name, { x: px, y: py });
      maxY = Math.max(maxY, py + H);
    }));
    x += Math.max(1, cols.length) * (W + GAP) + (ei < graph.environments.length - 1 ? 20 : 0);
  });
  for (const s of graph.stages) {
    const p = pos.get(s.name);
    if (!p) continue;
    for (const n of s.needs) {
      const q = pos.get(n);
      if (q) edges.append(svg('path', { class: 'edge', d: `M${q.x + W},${q.y + H / 2} C${q.x + W + 12},${q.y + H / 2} ${p.x - 12},${p.y + H / 2} ${p.x},${p.y + H / 2}` }));
    }
    const st = status.get(s.name) || 'pending';
    const g = svg('g', { class: 'stage', 'data-stage': s.name, 'data-status': st, tabindex: '0' });
    g.append(svg('rect', { x: p.x, y: p.y, width: W, height: H, rx: 6 }));
    g.append(svg('text', { x: p.x + 8, y: p.y + 18 }, s.name.length > 20 ? s.name.slice(0, 19) + '…' : s.name));
    g.append(svg('text', { class: 'state', x: p.x + 8, y: p.y + 35 }, st));
    g.addEventListener('click', () => onSelect(s.name));
    nodes.append(g);
  }
  root.setAttribute('viewBox', `0 0 ${x} ${maxY + 10}`);
  root.setAttribute('width', x);
  root.setAttribute('height', maxY + 10);
  root.append(edges, nodes, labels);
  return root;
}

function setStageState(root, ev) {
  const g = root.querySelector(`g.stage[data-stage="${CSS.escape(ev.stage)}"]`);
  if (!g) return;
  const st = ev.cached && ev.status === 'passed' ? 'cached' : ev.status;
  g.setAttribute('data-status', st);
  g.querySelector('text.state').textContent = st;
}

async function runPage(id) {
  let run = await api('/api/v1/runs/' + encodeURIComponent(id));
  let graph = { environments: [], stages: [] };
  try { graph = await api('/api/v1/runs/' + encodeURIComponent(id) + '/graph'); } catch { /* queued: no pipeline yet */ }
  if (!graph.stages.length && run.stages.length) {
    const envs = [...new Set(run.stages.map((s) => s.environment))];
    graph = { environments: envs.map((name) => ({ name, manual: false })), stages: run.stages.map((s) => ({ name: s.name, environment: s.environment, needs: [] })) };
  }
  const head = el('div', { class: 'card' });
  const graphBox = el('div', { id: 'graph' });
  const images = el('div', { id: 'images' });
  const tests = el('div', { id: 'tests' });
  const logTitle = el('h2', { id: 'log-title' }, 'Log');
  const log = el('pre', { class: 'log', id: 'log' }, 'Click a stage to see its log.');
  const actions = el('div', { class: 'actions' });
  view.replaceChildren(el('h1', {}, 'Run ', el('code', {}, id)), head, actions, el('h2', {}, 'Stages'), graphBox,
    el('h2', {}, 'Images'), images, el('h2', {}, 'Tests'), tests, logTitle, log);
  let selected = null, abort = null;

  const renderHead = () => {
    head.replaceChildren(el('dl', { class: 'meta' },
      el('dt', {}, 'Status'), el('dd', { id: 'run-status' }, badge(run.status),
        run.waiting_environment ? (run.status === 'running' ? ' waiting for its turn at ' : ' at the manual gate of ') + run.waiting_environment : ''),
      el('dt', {}, 'Project'), el('dd', {}, run.project || ''),
      el('dt', {}, 'Commit'), el('dd', {}, el('code', {}, run.commit || run.rev || ''), ' ', el('span', { class: 'subject' }, run.subject || '')),
      el('dt', {}, 'Started'), el('dd', {}, when(run.started)),
      el('dt', {}, 'Finished'), el('dd', {}, when(run.finished)),
      ...(run.error ? [el('dt', {}, 'Error'), el('dd', {}, run.error)] : [])));
    actions.replaceChildren(
      ...(['running', 'queued', 'starting'].includes(run.status)
        ? [el('button', { class: 'secondary', id: 'cancel', onclick: () => post('/api/v1/runs/' + id + '/cancel', {}) }, 'Cancel')]
        : [el('button', { class: 'secondary', id: 'retry', onclick: async () => {
            const r = await post('/api/v1/runs/' + id + '/retry', {});
            if (r) location.hash = '#/run/' + r.id;
          } }, 'Retry')]));
    images.replaceChildren(el('table', {}, el('tbody', {}, ...(run.images || []).map((i) => el('tr', {},
      el('td', {}, i.name), el('td', {}, el('code', { class: 'digest' }, shortDigest(i.digest))),
      el('td', { class: 'hide-narrow' }, (i.steps || []).filter((s) => s.cached).length + ' of ' + (i.steps || []).length + ' steps cached'))))));
  };
  const renderGraph = () => graphBox.replaceChildren(drawGraph(graph, run.stages, select));
  // Test reports (`reports: {junit: ...}`): per stage, failed tests first.
  const renderTests = async () => {
    let doc;
    try { doc = await api('/api/v1/runs/' + encodeURIComponent(id) + '/tests'); } catch { return; }
    if (!doc.stages.length) { tests.replaceChildren(el('p', { class: 'muted' }, 'No stage of this run kept test reports.')); return; }
    tests.replaceChildren(...doc.stages.map((s) => {
      const failed = s.cases.filter((c) => c.status === 'failed' || c.status === 'error');
      return el('div', { class: 'card tests', 'data-stage': s.stage },
        el('strong', {}, s.stage), ' ', s.totals.tests + ' tests, ' + (s.totals.failed + s.totals.error) + ' failed, ' +
          s.totals.skipped + ' skipped', s.cached_from ? ' (cached from run ' + s.cached_from + ')' : '',
        ...failed.map((c) => el('details', { class: 'failed-test' }, el('summary', {}, badge(c.status), ' ', el('code', {}, c.id),
          c.message ? ': ' + c.message : ''), el('pre', { class: 'log' }, c.output || ''))),
        ...s.flaky.map((t) => el('div', { class: 'flaky' }, badge('flaky'), ' ', el('code', {}, t))),
        ...s.warnings.map((w) => el('div', { class: 'muted' }, 'warning: ' + w)));
    }));
  };

  function select(stage) {
    selected = stage;
    graphBox.querySelectorAll('g.stage').forEach((g) => g.classList.toggle('selected', g.dataset.stage === stage));
    if (abort) abort.abort();
    abort = new AbortController();
    logTitle.textContent = 'Log of ' + stage;
    log.textContent = '';
    const signal = abort.signal;
    stream('/api/v1/runs/' + encodeURIComponent(id) + '/stages/' + encodeURIComponent(stage) + '/log?follow=1', (ev) => {
      if (ev.type === 'end') { log.dataset.ended = 'true'; return; }
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(ev.data + '\n');
      if (atBottom) log.scrollTop = log.scrollHeight;
    }, signal).catch((e) => { if (e.name !== 'AbortError') say(e.message, true); });
    log.dataset.ended = 'false';
  }

  renderHead();
  renderGraph();
  renderTests();
  const running = run.stages.find((s) => s.status === 'running');
  if (running) select(running.name);
  const refresh = debounce(async () => {
    run = await api('/api/v1/runs/' + encodeURIComponent(id));
    if (!graph.stages.length) {
      try { graph = await api('/api/v1/runs/' + encodeURIComponent(id) + '/graph'); renderGraph(); } catch { /* not yet */ }
    }
    renderHead();
  }, 150);
  // Test results change only when a stage ends: read them then, not on every event.
  const refreshTests = debounce(renderTests, 300);
  const onEvent = (ev) => {
    if (ev.type === 'stage' && ev.data.run === id) {
      const svgRoot = graphBox.querySelector('svg');
      if (svgRoot && svgRoot.querySelector(`g.stage[data-stage="${CSS.escape(ev.data.stage)}"]`)) setStageState(svgRoot, ev.data);
      else refresh();
      if (ev.data.status === 'running' && !selected) select(ev.data.stage);
      if (!['running', 'pending', 'queued'].includes(ev.data.status)) refreshTests();
    }
    if ((ev.type === 'run' && ev.data.id === id) || (ev.type === 'promotion' && ev.data.run === id)) refresh();
  };
  listeners.add(onEvent);
  return () => { listeners.delete(onEvent); if (abort) abort.abort(); };
}

async function post(path, body) {
  try {
    const r = await api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    say('');
    return r;
  } catch (e) {
    say((e.status === 409 ? 'Refused: ' : 'Failed: ') + e.message, true);
    return null;
  }
}

async function envsPage(params) {
  const project = params.get('project') || '';
  const doc = await api('/api/v1/environments' + (project ? '?project=' + encodeURIComponent(project) : ''));
  const p = doc.project;
  const gates = el('div', { id: 'gates' });
  const rows = el('tbody');
  const history = el('tbody');
  view.replaceChildren(el('h1', {}, 'Environments', p ? ' of ' + p : ''), el('h2', {}, 'Waiting at a manual gate'), gates,
    el('h2', {}, 'Where each image is'),
    el('table', { id: 'environments' }, el('thead', {}, el('tr', {}, el('th', {}, 'Image'), el('th', {}, 'Environment'),
      el('th', {}, 'Digest'), el('th', { class: 'hide-narrow' }, 'Commit'), el('th', { class: 'hide-narrow' }, 'Run'),
      el('th', { class: 'hide-narrow' }, 'Since'), el('th', {}, ''))), rows),
    el('h2', {}, 'History'), el('table', { id: 'history' }, history));

  const render = async () => {
    const d = await api('/api/v1/environments' + (p ? '?project=' + encodeURIComponent(p) : ''));
    rows.replaceChildren(...d.environments.map((e) => el('tr', { 'data-env': e.environment, 'data-image': e.image },
      el('td', {}, e.image), el('td', {}, e.environment),
      el('td', {}, el('code', { class: 'digest', title: e.digest }, shortDigest(e.digest))),
      el('td', { class: 'hide-narrow' }, el('code', {}, short(e.commit))),
      el('td', { class: 'hide-narrow' }, el('a', { href: '#/run/' + e.run }, e.run)),
      el('td', { class: 'hide-narrow' }, when(e.time)),
      el('td', {}, e.previous_digest
        ? el('button', { class: 'secondary rollback', onclick: async () => {
            if (await post('/api/v1/rollback', { project: p, image: e.image, env: e.environment })) render();
          } }, 'Rollback')
        : ''))));
    if (!d.environments.length) rows.append(el('tr', {}, el('td', { colspan: '7' }, 'Nothing promoted yet.')));
    const w = (await api('/api/v1/runs?status=waiting&limit=20' + (p ? '&project=' + encodeURIComponent(p) : ''))).runs;
    const cards = [];
    for (const r of w) {
      const full = await api('/api/v1/runs/' + r.id);
      for (const img of full.images.filter((i) => i.from_pipeline !== false)) {
        cards.push(el('div', { class: 'card gate' },
          el('a', { href: '#/run/' + r.id }, r.id), ' ', el('code', {}, short(r.commit)), ' ',
          el('span', { class: 'subject' }, r.subject), el('br'),
          img.name, ' ', el('code', {}, shortDigest(img.digest)), ' waits at ', el('b', {}, r.waiting_environment), ' ',
          el('button', { class: 'promote', 'data-run': r.id, 'data-env': r.waiting_environment, onclick: async (ev) => {
            ev.target.disabled = true;
            ev.target.textContent = 'Promoting…';
            const res = await post('/api/v1/promote', { project: p, image: img.name, to: r.waiting_environment, run: r.id });
            if (res) say('Promoted ' + img.name + ' to ' + r.waiting_environment + ': run ' + res.id + ' is ' + res.status + '.');
            render();
          } }, 'Promote to ' + r.waiting_environment)));
      }
    }
    gates.replaceChildren(...(cards.length ? cards : [el('p', { class: 'hint' }, 'No run waits at a gate.')]));
    const h = await api('/api/v1/history?limit=20' + (p ? '&project=' + encodeURIComponent(p) : ''));
    history.replaceChildren(...h.promotions.map((e) => el('tr', {},
      el('td', e.reason ? { title: e.reason, class: 'refused' } : {}, e.kind), el('td', {}, e.image), el('td', {}, e.environment),
      el('td', {}, el('code', {}, shortDigest(e.digest))), el('td', { class: 'hide-narrow' }, when(e.time)))));
  };
  await render();
  const reload = debounce(() => render().catch((e) => say(e.message, true)), 200);
  const onEvent = (ev) => { if (ev.type === 'promotion' || (ev.type === 'run' && ev.data.status === 'waiting')) reload(); };
  listeners.add(onEvent);
  return () => listeners.delete(onEvent);
}

// ---- routing ----------------------------------------------------------------

async function route() {
  leave();
  leave = () => {};
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  try {
    if (path.startsWith('/run/')) leave = await runPage(decodeURIComponent(path.slice(5)));
    else if (path === '/envs') leave = await envsPage(params);
    else leave = await runsPage(params);
  } catch (e) {
    view.replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

window.addEventListener('hashchange', route);
route();
followEvents();
