"use strict";
// An ews-javascript-api ExchangeService for the simulator, and plain-JSON views of what it parsed.
//
// The library's HTTP goes through @ewsjs/xhr (axios). Basic: the library's own WebCredentials
// header. NTLM: either @ewsjs/xhr's provider as shipped ("ntlm"), which runs the handshake on a GET,
// or PostNtlmProvider ("ntlm-post"), which runs it on the request itself, as exchangelib does.

const http = require("http");
const https = require("https");
const axios = require("axios");
const ntlm = require("@ewsjs/ntlm-client");
const ews = require("ews-javascript-api");
const { XhrApi } = require("@ewsjs/xhr");

// Records the SOAP the library sent and what came back (its own tracing does not log bodies).
class Wire {
  constructor(inner) {
    this.inner = inner;
    this.exchanges = [];
  }
  get apiName() {
    return this.inner.apiName;
  }
  async xhr(options, progress) {
    const entry = { request: String(options.data || ""), status: null, response: null };
    this.exchanges.push(entry);
    try {
      const answer = await this.inner.xhr(options, progress);
      entry.status = answer.status;
      entry.response = answer.responseText;
      return answer;
    } catch (error) {
      entry.status = error && error.status;
      entry.response = error && error.responseText;
      throw error;
    }
  }
  xhrStream(options, progress) {
    const entry = { request: String(options.data || ""), status: "stream", response: "" };
    this.exchanges.push(entry);
    return this.inner.xhrStream(options, (event) => {
      if (event && event.type === "data") entry.response += event.data;
      progress(event);
    });
  }
  disconnect() {
    return this.inner.disconnect();
  }
  // The request bodies sent, optionally only those of one operation (by its element name).
  sent(operation) {
    const bodies = this.exchanges.map((e) => e.request);
    return operation ? bodies.filter((body) => new RegExp(`<\\w+:${operation}[ >/]`).test(body)) : bodies;
  }
}

// NTLM with the three legs on one keep-alive connection, the NEGOTIATE message on the real POST.
class PostNtlmProvider {
  constructor(username, password) {
    const [domain, user] = username.includes("\\") ? username.split("\\") : ["", username];
    this.username = user;
    this.domain = domain.toUpperCase();
    this.password = password;
    this.agent = null;
  }
  get providerName() {
    return "ntlm-post";
  }
  get client() {
    return null;
  }
  async preCall(options) {
    const secure = options.url.startsWith("https:");
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: options.rejectUnauthorized })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = { ...options, headers: { ...options.headers }, responseType: "text", validateStatus: () => true };
    first[secure ? "httpsAgent" : "httpAgent"] = this.agent;
    first.headers.Authorization = ntlm.createType1Message(".", this.domain);
    first.headers.Connection = "keep-alive";
    const challenge = await axios.default(first);
    const header = challenge.headers["www-authenticate"];
    if (!header || !/^NTLM /i.test(String(header))) {
      throw new Error(`no NTLM challenge (HTTP ${challenge.status})`);
    }
    const type2 = ntlm.decodeType2Message(String(header));
    const last = { ...options, headers: { ...options.headers } };
    last[secure ? "httpsAgent" : "httpAgent"] = this.agent;
    last.headers.Authorization = ntlm.createType3Message(type2, this.username, this.password, ".", this.domain);
    last.headers.Connection = "keep-alive";
    return last;
  }
}

function xhrFor(auth, login, password) {
  const xhr = new XhrApi();
  if (auth === "ntlm") xhr.useNtlmAuthentication(login, password);
  else if (auth === "ntlm-post") xhr.setAuthProvider(new PostNtlmProvider(login, password));
  else if (auth !== "basic") throw new Error(`unknown auth ${auth}`);
  return xhr;
}

// Options: url, login, password, version ("Exchange2013"), auth ("basic" | "ntlm" | "ntlm-post"),
// timeZone (a Windows zone id: the service's zone, sent as TimeZoneContext), impersonate (an SMTP).
function service(options) {
  const version = ews.ExchangeVersion[options.version || "Exchange2013"];
  if (version === undefined) throw new Error(`unknown ExchangeVersion ${options.version}`);
  // UTC is the library's own Utc zone, whose DateTimes (kind Utc) it converts without loss.
  // "Local" is the process's zone (TZ), the library's default and the only non-UTC zone whose
  // wall-clock DateTimes it converts correctly (it builds them as the process's local time).
  const zone = !options.timeZone || options.timeZone === "UTC" ? ews.TimeZoneInfo.Utc
    : options.timeZone === "Local" ? ews.TimeZoneInfo.Local : ews.TimeZoneInfo.FindSystemTimeZoneById(options.timeZone);
  const svc = new ews.ExchangeService(version, zone);
  svc.Url = new ews.Uri(options.url);
  svc.Credentials = new ews.WebCredentials(options.login, options.password);
  svc.wire = new Wire(xhrFor(options.auth || "basic", options.login, options.password));
  svc.XHRApi = svc.wire;
  if (options.impersonate) {
    svc.ImpersonatedUserId = new ews.ImpersonatedUserId(ews.ConnectingIdType.SmtpAddress, options.impersonate);
  }
  return svc;
}

// A UTC instant ("2030-01-07T09:00:00Z") as the library's DateTime of kind Utc.
function utc(text) {
  return ews.DateTime.Parse(text, ews.DateTimeKind.Utc);
}

// Wall-clock time in the service's zone ("2030-01-07T09:00"): an Unspecified DateTime, as a
// desktop client builds one from what a user typed.
function wallClock(text) {
  const [date, time] = text.split("T");
  const [year, month, day] = date.split("-").map(Number);
  const [hour, minute] = (time || "00:00").split(":").map(Number);
  return new ews.DateTime(year, month, day, hour, minute, 0, 0, ews.DateTimeKind.Unspecified);
}

// "...Z" as a UTC instant, anything else as wall-clock time in the service's zone.
function when(text) {
  return text.endsWith("Z") ? utc(text) : wallClock(text);
}

// The ResponseCode of each response message in what the server answered (for answers the library
// turns into an empty result or an exception).
function responseCodes(svc, operation) {
  return svc.wire.exchanges
    .filter((e) => !operation || new RegExp(`<\\w+:${operation}[ >/]`).test(e.request))
    .flatMap((e) => [...String(e.response || "").matchAll(/<(?:\w+:)?ResponseCode>([^<]*)</g)].map((m) => m[1]));
}

// A service for one of the standard organisation's logons (args.users[who]).
function as(args, who, extra = {}) {
  const user = args.users[who];
  if (!user) throw new Error(`no logon ${who}`);
  return service({ url: args.ews_url, login: user.smtp, password: user.password, ...extra });
}

// Plain values -------------------------------------------------------------------------------

function iso(value) {
  if (value === null || value === undefined) return null;
  if (value.MomentDate) return value.MomentDate.clone().utc().toISOString();
  return String(value);
}

function enumName(enumeration, value) {
  if (value === null || value === undefined) return null;
  return enumeration[value] === undefined ? value : enumeration[value];
}

// A property the item has (loaded), or `missing` when the server did not send it.
function loaded(item, definition, convert = (x) => x, missing = null) {
  const holder = { outValue: null };
  try {
    if (!item.TryGetProperty(definition, holder)) return missing;
  } catch (error) {
    return missing;
  }
  return holder.outValue === null || holder.outValue === undefined ? null : convert(holder.outValue);
}

function items(collection) {
  if (!collection) return [];
  if (Array.isArray(collection)) return collection;
  if (typeof collection.GetEnumerator === "function") return collection.GetEnumerator();
  if (collection.Items) return collection.Items;
  return [];
}

function address(emailAddress) {
  return emailAddress ? emailAddress.Address : null;
}

// What a ServiceResponseException (or an HTTP-level failure) says, as data.
function failure(error) {
  if (error === null || error === undefined) return null;
  const out = { message: String(error.message || error) };
  const code = error.Response && error.Response.ErrorCode !== undefined ? error.Response.ErrorCode
    : error.ResponseCode !== undefined && error.ResponseCode !== ews.ServiceError.NoError ? error.ResponseCode : error.ErrorCode;
  if (code !== undefined && code !== ews.ServiceError.NoError) out.code = enumName(ews.ServiceError, code);
  if (error.status !== undefined) out.status = error.status;
  if (error.constructor && error.constructor.name) out.type = error.constructor.name;
  return out;
}

async function attempt(action) {
  try {
    return { ok: true, value: await action() };
  } catch (error) {
    return { ok: false, error: failure(error) };
  }
}

module.exports = { XhrApi, Wire, as, utc, wallClock, when, responseCodes, ews, service, iso, enumName, loaded, items, address, failure, attempt, PostNtlmProvider };
