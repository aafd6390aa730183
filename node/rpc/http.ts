/**
 * HTTP plumbing of the RPC server: bounded body reading, the JSON content-type check, and
 * writing JSON answers (also straight onto a socket, for errors Node reports before any request).
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { ResultCode } from '../../protocol/codes.js';
import { ClientGoneError, error_body, RpcError, RpcErrorCode } from './errors.js';

// fatal: malformed UTF-8 is refused, never patched with U+FFFD. ignoreBOM: a leading BOM is kept
// (and then fails JSON.parse) instead of being silently dropped, as protocol/bytes.ts decodes.
const utf8_decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** 413 code 101, with the limit in the message. */
export function too_large(bytes_max: number): RpcError {
  return new RpcError(
    413,
    RpcErrorCode.BODY_TOO_LARGE,
    `request body is over the limit of ${bytes_max} bytes`,
  );
}

/** The declared Content-Length, or null when the body is chunked or absent. */
export function declared_length(req: IncomingMessage): number | null {
  const header = req.headers['content-length'];
  // Node's parser has already refused a Content-Length that is not plain digits.
  return header === undefined ? null : Number(header);
}

/**
 * Accepts a POST body type of `application/json` (charset, if named, UTF-8) or none at all;
 * anything else is 415 code 107.
 */
export function check_json_content_type(req: IncomingMessage): void {
  const header = req.headers['content-type'];
  if (header === undefined) return;
  const [type, ...params] = header.split(';').map((part) => part.trim().toLowerCase());
  let ok = type === 'application/json';
  for (const param of params) {
    if (!param.startsWith('charset=')) continue;
    const charset = param.slice('charset='.length).replace(/^"(.*)"$/, '$1');
    if (charset !== 'utf-8' && charset !== 'utf8') ok = false;
  }
  if (!ok) {
    throw new RpcError(
      415,
      RpcErrorCode.UNSUPPORTED_MEDIA_TYPE,
      'request body must be application/json in UTF-8',
    );
  }
}

/**
 * Reads a request body of at most `bytes_max` bytes as UTF-8 text. Refuses with 413 from the
 * Content-Length alone when it says too much, and otherwise stops reading the moment the count
 * passes the limit (the caller answers with `Connection: close`, so the rest is never read).
 * Rejects with ClientGoneError if the client leaves first, 400 code 7 if the bytes are not UTF-8.
 */
export function read_body(req: IncomingMessage, bytes_max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = declared_length(req);
    if (declared !== null && declared > bytes_max) {
      reject(too_large(bytes_max));
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const done = () => {
      req.off('data', on_data);
      req.off('end', on_end);
      req.off('close', on_close);
      req.off('error', on_close);
    };
    const on_data = (chunk: Buffer) => {
      total += chunk.length;
      if (total > bytes_max) {
        done();
        req.pause();
        reject(too_large(bytes_max));
        return;
      }
      chunks.push(chunk);
    };
    const on_end = () => {
      done();
      try {
        resolve(utf8_decoder.decode(Buffer.concat(chunks, total)));
      } catch {
        reject(new RpcError(400, ResultCode.MALFORMED_TX, 'request body is not valid UTF-8'));
      }
    };
    const on_close = () => {
      done();
      reject(new ClientGoneError('client closed the connection before sending the whole body'));
    };
    req.on('data', on_data);
    req.on('end', on_end);
    req.on('close', on_close);
    req.on('error', on_close);
  });
}

/** Writes a JSON answer unless one was already begun or the client is gone. */
export function send_json(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** A whole HTTP/1.1 error answer as raw text, for a socket that has no ServerResponse. */
export function raw_error_response(
  status: number,
  code: number,
  message: string,
  headers: Readonly<Record<string, string>>,
): string {
  const body = JSON.stringify(error_body(code, message));
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}
