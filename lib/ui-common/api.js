// A Loa HTTP API from the browser (the province console's, a village panel's):
// JSON with the session cookie, the CSRF token on every change, errors as
// ApiError with the server's code, message and the rest of its error body;
// uploads through XMLHttpRequest (fetch has no upload progress). For the
// console: jobs polled, live updates through one EventSource.

export class ApiError extends Error {
  /** `detail`: the error body's other fields (a refusal's `rule`, an ingest's `reason`). */
  constructor(status, code, message, retryAfter, detail = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.detail = detail;
  }
}

const fromBody = (status, body, statusText, retryAfter) => {
  const { code, message, ...detail } = body?.error ?? {};
  return new ApiError(status, code ?? `HTTP_${status}`, message ?? statusText, Number(retryAfter) || null, detail);
};
const isLogin = (url) => url === '/api/login' || url === '/api/me';

let csrf = null;
export const setCsrf = (token) => (csrf = token);
let unauthenticated = () => {};
/** Called when the server says the session is gone (401 on anything but a login). */
export const onUnauthenticated = (fn) => (unauthenticated = fn);

async function parse(res, url) {
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await res.json().catch(() => null) : null;
  if (res.status === 401 && !isLogin(url)) queueMicrotask(() => unauthenticated());
  if (!res.ok) throw fromBody(res.status, body, res.statusText, res.headers.get('retry-after'));
  return body;
}

export async function request(method, url, body) {
  const headers = {};
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch {
    throw new ApiError(0, 'NETWORK', 'network error');
  }
  return parse(res, url);
}

export const get = (url) => request('GET', url);
export const post = (url, body = {}) => request('POST', url, body);
export const put = (url, body) => request('PUT', url, body);
export const del = (url) => request('DELETE', url);

/** A query string from an object, leaving out empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '' && v !== false) u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** Multipart upload with progress (0–1) of the bytes sent; resolves with the JSON answer. */
export function upload(url, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    if (csrf) xhr.setRequestHeader('x-csrf-token', csrf);
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      const body = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      if (xhr.status === 401) queueMicrotask(() => unauthenticated());
      reject(fromBody(xhr.status, body, xhr.statusText, xhr.getResponseHeader('retry-after')));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'NETWORK', 'network error')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'ABORTED', 'upload aborted')));
    xhr.send(form);
  });
}

/** Polls a job until it ends; onProgress(0–1) on the way. Resolves with the result or throws its error. */
export async function waitJob(id, onProgress, { intervalMs = 500, signal } = {}) {
  for (;;) {
    const { job } = await get(`/api/jobs/${encodeURIComponent(id)}`);
    onProgress(job.progress ?? 0);
    if (job.status === 'done') return job.result;
    if (job.status === 'failed') throw new ApiError(200, job.error?.code ?? 'LOA_E_INTERNAL', job.error?.message ?? 'failed');
    if (signal?.aborted) throw new ApiError(0, 'ABORTED', 'aborted');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Live updates: one EventSource for the page, re-dispatched as 'device' and
 * 'dispatch' events on the returned EventTarget (detail: the parsed data),
 * and 'live' with detail true/false when the stream opens or drops. The
 * browser reconnects by itself after a network drop; after a refusal (the
 * session ended) the stream stays closed.
 */
export function liveEvents() {
  const target = new EventTarget();
  let es = null;
  let retry = null;
  const open = () => {
    es = new EventSource('/api/events');
    es.addEventListener('open', () => target.dispatchEvent(new CustomEvent('live', { detail: true })));
    es.addEventListener('error', () => {
      target.dispatchEvent(new CustomEvent('live', { detail: false }));
      // CLOSED: the server answered with an error (not a drop): try again later, once.
      if (es.readyState === EventSource.CLOSED && !retry) retry = setTimeout(() => ((retry = null), open()), 5000);
    });
    for (const kind of ['device', 'dispatch']) {
      es.addEventListener(kind, (e) => {
        try {
          target.dispatchEvent(new CustomEvent(kind, { detail: JSON.parse(e.data) }));
        } catch {
          // A malformed event is dropped; the next one carries the whole state again.
        }
      });
    }
  };
  open();
  target.close = () => {
    clearTimeout(retry);
    retry = null;
    es?.close();
  };
  return target;
}
