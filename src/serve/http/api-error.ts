/**
 * HTTP-level failures of one request, rendered in each API's own error shape:
 *   Anthropic {type:'error', error:{type, message}}   OpenAI {error:{message, type, param, code}}
 */
export type ApiFlavor = 'anthropic' | 'openai';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    /** Anthropic error type (invalid_request_error, request_too_large, overloaded_error, not_found_error, api_error). */
    readonly errorType: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, param: string | null = null) => new HttpError(400, 'invalid_request_error', message, param);

const OPENAI_TYPE: Record<string, string> = {
  invalid_request_error: 'invalid_request_error',
  overloaded_error: 'server_error',
  not_found_error: 'invalid_request_error',
  request_too_large: 'invalid_request_error',
  api_error: 'server_error',
};

export function errorBody(flavor: ApiFlavor, e: HttpError): unknown {
  if (flavor === 'anthropic') return { type: 'error', error: { type: e.errorType, message: e.message } };
  return { error: { message: e.message, type: OPENAI_TYPE[e.errorType] ?? 'server_error', param: e.param, code: e.status === 503 ? 'overloaded' : e.status === 413 ? 'request_too_large' : null } };
}

export function errorResponse(flavor: ApiFlavor, e: HttpError): Response {
  // Overload is 529 in the Anthropic API, 503 in OpenAI-compatible servers.
  const status = e.errorType === 'overloaded_error' ? (flavor === 'anthropic' ? 529 : 503) : e.status;
  return jsonResponse(errorBody(flavor, e), status);
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
