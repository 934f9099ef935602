// Record how a blob endpoint answers the calls cache clients make, so the same sequence
// can be compared between azurite (Microsoft's Azure Storage emulator) and layercache serve.
//   node azure-parity.mjs write <signed-write-url>   -> JSON list of observations
//   node azure-parity.mjs read <signed-read-url>     -> JSON list of observations
//   node azure-parity.mjs azurite <blob-endpoint>    -> {"write": url, "read": url} (SAS URLs)
import {
  BlobServiceClient,
  BlobSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';

const [mode, target] = process.argv.slice(2);
const HEADERS = ['x-ms-request-id', 'x-ms-version', 'date'];

async function observe(name, method, url, { headers = {}, body } = {}) {
  const res = await fetch(url, { method, headers, body });
  const text = method === 'HEAD' ? '' : await res.text();
  const code = res.headers.get('x-ms-error-code');
  return {
    name,
    status: res.status,
    error_code: code,
    // Success bodies are compared byte for byte; error bodies only by their code.
    body: res.ok ? text : undefined,
    has: Object.fromEntries(HEADERS.map((h) => [h, res.headers.has(h)])),
    content_length: res.ok ? res.headers.get('content-length') : undefined,
    content_range: res.headers.get('content-range'),
  };
}

const b64 = (s) => Buffer.from(s.padEnd(48, '0')).toString('base64');

async function write(url) {
  const [A, B, C] = [b64('a'), b64('b'), b64('c')];
  const block = (id) => `${url}&comp=block&blockid=${encodeURIComponent(id)}`;
  const list = (ids) =>
    `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((i) => `<Latest>${i}</Latest>`).join('')}</BlockList>`;
  return [
    await observe('put block a', 'PUT', block(A), { body: 'hello ' }),
    await observe('put block b', 'PUT', block(B), { body: 'world' }),
    await observe('block list with unknown block', 'PUT', `${url}&comp=blocklist`, { body: list([A, C]) }),
    await observe('block list', 'PUT', `${url}&comp=blocklist`, { body: list([A, B]) }),
  ].map((o) => (o.name.startsWith('put block') ? { ...o, body: undefined } : o));
}

async function read(url) {
  const tampered = url.replace(/sig=([^&]*)/, (m, s) => `sig=${s.slice(0, -4)}AAAA`);
  return [
    await observe('head', 'HEAD', url),
    await observe('get', 'GET', url),
    await observe('get range', 'GET', url, { headers: { range: 'bytes=6-10' } }),
    await observe('get x-ms-range', 'GET', url, { headers: { 'x-ms-range': 'bytes=0-4' } }),
    await observe('get open range', 'GET', url, { headers: { range: 'bytes=3-' } }),
    await observe('range past end', 'GET', url, { headers: { range: 'bytes=11-20' } }),
    await observe('tampered signature', 'GET', tampered),
  ];
}

async function azurite(endpoint) {
  const account = 'devstoreaccount1';
  const key =
    'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
  const cred = new StorageSharedKeyCredential(account, key);
  const service = new BlobServiceClient(`${endpoint}/${account}`, cred);
  const container = service.getContainerClient('cache');
  await container.createIfNotExists();
  const blob = container.getBlockBlobClient(`entry-${Date.now()}`);
  const sas = generateBlobSASQueryParameters(
    {
      containerName: 'cache',
      blobName: blob.name,
      permissions: BlobSASPermissions.parse('rcw'),
      expiresOn: new Date(Date.now() + 3600_000),
    },
    cred,
  ).toString();
  const url = `${blob.url}?${sas}`;
  return { write: url, read: url };
}

const out = await { write, read, azurite }[mode](target);
console.log(JSON.stringify(out));
