/* The API client the pages share: bearer token from storage, JSON both ways, and the
 * error envelope ({error: {code, message, rule_id, fields, details}}) as an ApiError. */

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.ruleId = error.rule_id;
    this.fields = error.fields || {};
    this.details = error.details;
    this.body = body;
  }
}

/** ``extraHeaders``: an optional (async) function answering headers sent with every
 * request — the field app's phone id, clock and outbox mark. */
export function makeClient(storage, key, extraHeaders) {
  const client = {
    get session() { try { return JSON.parse(storage.getItem(key) || "null"); } catch (e) { return null; } },
    get user() { return client.session && client.session.user; },
    signedIn() {
      const s = client.session;
      return !!(s && s.access_token && new Date(s.expires_at) > new Date());
    },
    async login(username, password) {
      const body = await client.call("POST", "/api/v1/auth/login", { username, password }, { anonymous: true });
      storage.setItem(key, JSON.stringify(body));
      return body.user;
    },
    async logout() {
      try { await client.call("POST", "/api/v1/auth/logout"); } catch (e) { /* already gone */ }
      storage.removeItem(key);
    },
    async call(method, path, body, options) {
      const headers = { Accept: "application/json", ...(extraHeaders ? await extraHeaders() : {}) };
      const s = client.session;
      if (s && !(options && options.anonymous)) headers.Authorization = `Bearer ${s.access_token}`;
      const init = { method, headers };
      if (options && options.signal) init.signal = options.signal;
      if (body !== undefined && body !== null) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const response = await fetch(path, init);
      const text = await response.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      if (response.status === 401 && !(options && options.anonymous)) storage.removeItem(key);
      if (!response.ok) throw new ApiError(response.status, data);
      return data;
    },
    async download(path, filename) {
      const response = await fetch(path, { headers: { Authorization: `Bearer ${client.session.access_token}` } });
      if (!response.ok) throw new ApiError(response.status, null);
      const blob = await response.blob();
      // The server names the file after the filter; ``filename`` is the fallback.
      const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = named ? named[1] : filename;
      document.body.append(link);
      link.click();
      link.remove();
      return blob.size;
    },
  };
  return client;
}
