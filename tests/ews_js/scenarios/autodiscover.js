"use strict";
// SOAP Autodiscover (GetUserSettings) with the library's AutodiscoverService pointed at the
// simulator's endpoint, then the EWS URL it found used for a request.

const { ews, Wire, XhrApi, service, enumName, attempt } = require("../lib/client.js");

const SETTINGS = ["UserDisplayName", "AutoDiscoverSMTPAddress", "InternalEwsUrl", "ExternalEwsUrl",
  "EwsSupportedSchemas", "CasVersion"];

// args: login, mailboxes [smtp].
async function settings(args) {
  const user = args.users[args.login || "alice"];
  const autodiscover = new ews.AutodiscoverService(new ews.Uri(args.autodiscover_url), ews.ExchangeVersion.Exchange2013);
  autodiscover.Credentials = new ews.WebCredentials(user.smtp, user.password);
  const wire = new Wire(new XhrApi());
  autodiscover.XHRApi = wire;
  const names = SETTINGS.map((name) => ews.UserSettingName[name]);
  const answers = {};
  for (const mailbox of args.mailboxes) {
    const found = await attempt(() => autodiscover.GetUserSettings(mailbox, names));
    if (!found.ok) {
      answers[mailbox] = found.error;
      continue;
    }
    const response = found.value;
    const values = {};
    for (const name of SETTINGS) {
      const holder = { outValue: null };
      if (response.Settings && response.Settings.containsKey && response.Settings.containsKey(ews.UserSettingName[name])) {
        values[name] = response.Settings.get(ews.UserSettingName[name]);
      } else if (response.TryGetSettingValue && response.TryGetSettingValue(ews.UserSettingName[name], holder)) {
        values[name] = holder.outValue;
      }
    }
    answers[mailbox] = {
      code: enumName(ews.AutodiscoverErrorCode, response.ErrorCode),
      message: response.ErrorMessage || null,
      settings: values,
    };
  }
  // The discovered EWS URL serves EWS for this logon.
  const discovered = answers[user.smtp] && answers[user.smtp].settings && answers[user.smtp].settings.ExternalEwsUrl;
  let ews_check = null;
  if (discovered) {
    const svc = service({ url: discovered, login: user.smtp, password: user.password });
    const found = await attempt(() => svc.ResolveName("carol", ews.ResolveNameSearchLocation.DirectoryOnly, false));
    ews_check = found.ok ? { ok: true, count: found.value.Count } : found.error;
  }
  return { answers, ews_check, requests: wire.exchanges.length, request_version: (wire.sent()[0] || "").match(/<a:RequestedServerVersion>([^<]*)/)?.[1] || null };
}

module.exports = { settings };
