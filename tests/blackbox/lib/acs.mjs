// Raw signed requests for dialect D (seed 003, EkycVerify at `/`), written
// from the published signing rules (../shared/fixtures/sdk-captures/README.md,
// section 1): ACS3-HMAC-SHA256 as @alicloud/openapi-core sends it, and the RPC
// signature V1 as @alicloud/pop-core POSTs it. For what the official SDKs never
// send (stale timestamps, reused nonces, broken signatures) and for the
// benchmark, which must not pay an SDK's own overhead. The server accepting
// these is the cross-check; the SDKs themselves are exercised in
// dialect-d.test.mjs.
import { createHash, createHmac, randomBytes } from 'node:crypto';

export const DEMO_ACCESS_KEY = { id: 'demo-access-key-id', secret: 'demo-access-key-secret' };

// Where the generated product SDK puts each EkycVerify field.
const QUERY_FIELDS = ['Authorize', 'Crop', 'DocName', 'DocNo', 'DocType', 'FacePictureUrl', 'IdOcrPictureUrl',
  'IdThreshold', 'MerchantBizId', 'MerchantUserId', 'ProductCode'];
const BODY_FIELDS = ['FacePictureBase64', 'IdOcrPictureBase64'];

/** EkycVerify fields → {query, body} as the generated SDK splits them. */
export function splitEkyc(fields) {
  const query = {}; const body = {};
  for (const k of QUERY_FIELDS) if (fields[k] !== undefined) query[k] = fields[k];
  for (const k of BODY_FIELDS) if (fields[k] !== undefined) body[k] = fields[k];
  return { query, body };
}

export const rfc3986 = (v) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const sha256 = (d) => createHash('sha256').update(d).digest('hex');
export const isoNow = (offsetS = 0) => new Date(Date.now() + offsetS * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** An ACS3 request to `host` (host:port) as openapi-core sends it:
 * {path, headers, body}. */
export function acs3Request(host, fields, { secret = DEMO_ACCESS_KEY.secret, id = DEMO_ACCESS_KEY.id, date = isoNow(),
  nonce = randomBytes(32).toString('hex'), action = 'EkycVerify', version = '2022-08-09' } = {}) {
  const { query, body } = splitEkyc(fields);
  const bodyText = new URLSearchParams(body).toString();
  const headers = { host, 'x-acs-version': version, 'x-acs-action': action, 'x-acs-date': date,
    'x-acs-signature-nonce': nonce, 'content-type': 'application/x-www-form-urlencoded', 'x-acs-content-sha256': sha256(bodyText) };
  const names = Object.keys(headers).sort();
  const cq = Object.keys(query).sort().map((k) => `${k}=${rfc3986(query[k])}`).join('&');
  const canonical = `POST\n/\n${cq}\n${names.map((n) => `${n}:${headers[n]}\n`).join('')}\n${names.join(';')}\n${sha256(bodyText)}`;
  const sig = createHmac('sha256', secret).update(`ACS3-HMAC-SHA256\n${sha256(canonical)}`).digest('hex');
  headers.authorization = `ACS3-HMAC-SHA256 Credential=${id},SignedHeaders=${names.join(';')},Signature=${sig}`;
  delete headers.host;
  return { path: '/?' + new URLSearchParams(query).toString(), headers, body: bodyText };
}

/** A pop-core style V1 POST (everything in the body): {path, headers, body}. */
export function v1Request(fields, { secret = DEMO_ACCESS_KEY.secret, id = DEMO_ACCESS_KEY.id, timestamp = isoNow(),
  nonce = randomBytes(16).toString('hex'), method = 'HMAC-SHA1' } = {}) {
  const p = { AccessKeyId: id, Action: 'EkycVerify', Format: 'JSON', SignatureMethod: method, SignatureNonce: nonce,
    SignatureVersion: '1.0', Timestamp: timestamp, Version: '2022-08-09', ...fields };
  const cq = Object.keys(p).sort().map((k) => `${rfc3986(k)}=${rfc3986(p[k])}`).join('&');
  const sig = createHmac('sha1', secret + '&').update(`POST&%2F&${rfc3986(cq)}`).digest('base64');
  return { path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-acs-action': 'EkycVerify' },
    body: `${cq}&Signature=${rfc3986(sig)}` };
}
