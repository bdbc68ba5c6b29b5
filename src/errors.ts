/** Errors a client can cause carry a stable code and the HTTP status that the one handler maps. */
export type DomainErrorCode =
  | 'invalid_email'
  | 'invalid_request'
  | 'invalid_token'
  | 'expired_token'
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'invalid_date'
  | 'misdirected_request'
  | 'conflict';

const statusByCode: Record<DomainErrorCode, number> = {
  invalid_email: 400,
  invalid_request: 400,
  invalid_token: 404,
  expired_token: 410,
  not_found: 404,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  invalid_date: 400,
  misdirected_request: 421,
  conflict: 409,
};

export class DomainError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
    this.statusCode = statusByCode[code];
  }
}
