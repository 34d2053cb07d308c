// upload.mjs: tus-js-client (the real one, from node_modules) uploading one
// file, driven by flags, reporting as JSON lines on stdout. Used by
// cmd/ferry/interop_tus_test.go; also handy by hand:
//
//   node testdata/interop/upload.mjs --endpoint http://127.0.0.1:8080/uploads/ \
//       --file big.iso [--protocol tus-v1|ietf-draft-03|ietf-draft-05] \
//       [--chunk-size 1048576] [--upload-url URL] [--abort-at 0.5] \
//       [--filename name] [--filetype type] [--retry-delays 0,250,500,1000] \
//       [--input buffer|stream] [--data-during-creation] [--deferred-length] \
//       [--ietf-name-headers] [--parallel 2]
//
// Every flag can also come from the environment: --chunk-size is
// INTEROP_CHUNK_SIZE, and so on. (--input stream with --deferred-length
// never ends: tus-js-client 4.3.1 hangs on its last, empty PATCH, with tusd
// as with ferry.)
//
// Lines printed (one JSON object each, "event" says which, "ms" when):
//   {"event":"request","method":"PATCH","url":...,"headers":{...}}
//   {"event":"response","method":"PATCH","url":...,"status":204,"headers":{...}}
//   {"event":"url","url":...}                 the upload URL, once known
//   {"event":"progress","sent":n,"total":n}   bytes handed to the socket (every ~10%)
//   {"event":"chunk","accepted":n,"total":n}  an offset the server reported
//   {"event":"aborted","url":...,"offset":n}  --abort-at reached (exit 0)
//   {"event":"success","url":...}             (exit 0)
//   {"event":"error","message":...,"status":n,"body":...}  (exit 1)
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import * as tus from 'tus-js-client'

const flags = {
  endpoint: { type: 'string' },
  file: { type: 'string' },
  protocol: { type: 'string', default: 'tus-v1' },
  'chunk-size': { type: 'string' },
  'upload-url': { type: 'string' },
  'abort-at': { type: 'string' },
  filename: { type: 'string' },
  filetype: { type: 'string' },
  'retry-delays': { type: 'string', default: '0,250,500,1000,2000,3000' },
  input: { type: 'string', default: 'buffer' },
  'data-during-creation': { type: 'boolean', default: false },
  'deferred-length': { type: 'boolean', default: false },
  'ietf-name-headers': { type: 'boolean', default: false },
  'log-requests': { type: 'boolean', default: false },
  parallel: { type: 'string', default: '1' },
}

// Environment first (INTEROP_CHUNK_SIZE for --chunk-size), flags win.
const fromEnv = []
for (const [name, spec] of Object.entries(flags)) {
  const v = process.env[`INTEROP_${name.toUpperCase().replaceAll('-', '_')}`]
  if (v === undefined || v === '') continue
  if (spec.type === 'boolean') {
    if (v === '1' || v === 'true') fromEnv.push(`--${name}`)
  } else {
    fromEnv.push(`--${name}`, v)
  }
}
const { values: opt } = parseArgs({ options: flags, args: [...fromEnv, ...process.argv.slice(2)] })

const started = Date.now()
function emit(obj) {
  process.stdout.write(`${JSON.stringify({ ...obj, ms: Date.now() - started })}\n`)
}

function fail(message, extra = {}) {
  emit({ event: 'error', message, ...extra })
  process.exit(1)
}

if (!opt.file) fail('--file is required')
if (!opt.endpoint && !opt['upload-url']) fail('--endpoint or --upload-url is required')

const size = fs.statSync(opt.file).size
let input
if (opt.input === 'stream') {
  input = fs.createReadStream(opt.file)
} else {
  input = fs.readFileSync(opt.file)
}
const chunkSize = opt['chunk-size'] ? Number(opt['chunk-size']) : (opt.input === 'stream' ? 1 << 20 : Infinity)
const abortAt = opt['abort-at'] ? Number(opt['abort-at']) : null
const metadata = {
  filename: opt.filename ?? path.basename(opt.file),
  filetype: opt.filetype ?? 'application/octet-stream',
}
const isIETF = opt.protocol !== 'tus-v1'

function headersOf(getter, names) {
  const out = {}
  for (const n of names) {
    const v = getter(n)
    if (v !== undefined && v !== null && v !== '') out[n] = v
  }
  return out
}
const interesting = ['Location', 'Upload-Offset', 'Upload-Length', 'Upload-Complete', 'Upload-Draft-Interop-Version',
  'Tus-Resumable', 'Upload-Expires', 'Upload-Limit', 'Retry-After', 'Content-Type']

// contentDisposition names the file as RFC 6266 says: an ASCII fallback, and
// the real name UTF-8 and percent-encoded in filename* (header values are
// bytes, and Node sends strings as Latin-1).
function contentDisposition(name) {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_')
  const ext = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${ascii}"; filename*=UTF-8''${ext}`
}

let lastProgressDecile = -1
let done = false
const upload = new tus.Upload(input, {
  endpoint: opt.endpoint,
  uploadUrl: opt['upload-url'] || null,
  protocol: opt.protocol,
  chunkSize,
  uploadSize: Number(opt.parallel) > 1 ? null : size,
  metadata,
  retryDelays: opt['retry-delays'] === 'none' ? null : opt['retry-delays'].split(',').map(Number),
  uploadDataDuringCreation: opt['data-during-creation'],
  uploadLengthDeferred: opt['deferred-length'],
  parallelUploads: Number(opt.parallel),
  storeFingerprintForResuming: false,
  removeFingerprintOnSuccess: false,
  onBeforeRequest(req) {
    // The IETF drafts carry the name and type on the creation request as
    // Content-Type and Content-Disposition (tus-js-client sends only
    // Upload-Metadata); an application adds them the same way.
    if (opt['ietf-name-headers'] && isIETF && req.getMethod() === 'POST') {
      req.setHeader('Content-Type', metadata.filetype)
      req.setHeader('Content-Disposition', contentDisposition(metadata.filename))
    }
    if (opt['log-requests']) {
      emit({ event: 'request', method: req.getMethod(), url: req.getURL(),
        headers: headersOf((n) => req.getHeader(n), ['Upload-Offset', 'Upload-Length', 'Upload-Complete', 'Upload-Concat',
          'Content-Type', 'Upload-Metadata', 'Upload-Draft-Interop-Version', 'Tus-Resumable']) })
    }
  },
  onAfterResponse(req, res) {
    emit({ event: 'response', method: req.getMethod(), url: req.getURL(), status: res.getStatus(),
      headers: headersOf((n) => res.getHeader(n), interesting) })
  },
  onUploadUrlAvailable() {
    emit({ event: 'url', url: upload.url })
  },
  onProgress(sent, total) {
    const decile = Math.floor((sent / total) * 10)
    if (decile !== lastProgressDecile) {
      lastProgressDecile = decile
      emit({ event: 'progress', sent, total })
    }
  },
  onChunkComplete(_chunk, accepted, total) {
    emit({ event: 'chunk', accepted, total })
    if (abortAt !== null && !done && accepted < total && accepted >= abortAt * total) {
      done = true
      upload.abort(false).then(() => {
        emit({ event: 'aborted', url: upload.url, offset: accepted })
        process.exit(0)
      })
    }
  },
  onSuccess() {
    done = true
    emit({ event: 'success', url: upload.url })
    process.exit(0)
  },
  onError(err) {
    done = true
    const res = err.originalResponse
    fail(String(err.message ?? err), res ? { status: res.getStatus(), body: res.getBody() } : {})
  },
})

upload.start()
