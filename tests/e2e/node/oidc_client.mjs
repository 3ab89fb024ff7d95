// openid-client v6, driven by Kunci's end-to-end tests (tests/e2e/oidc_client.py).
//
// One run performs one scenario against a live issuer. The request is one JSON object on stdin:
//
//   {"issuer": "http://127.0.0.1:8000", "client_id": "...", "client_secret": "..." | null,
//    "client_auth": "client_secret_basic" | "client_secret_post" | "none",   (optional)
//    "scenario": "discovery", "params": {...}}
//
// and the answer is one JSON object on stdout: {"ok": true, "result": {...}} or
// {"ok": false, "error": {"name", "code", "message", "error", "error_description", "status", "cause"}},
// where `code` is openid-client's (e.g. OAUTH_JSON_ATTRIBUTE_COMPARISON) and `error` the server's
// RFC 6749 §5.2 error, when there is one. Exit status: 0 for a result, 1 for an error that
// openid-client or the server raised, 2 for a request this script cannot read.
//
// Every run starts with discovery, so every scenario also proves that discovery works. Scenarios
// that span the browser (authorization URL -> sign-in -> callback -> code exchange) carry their
// state (PKCE verifier, nonce, state) through the test, which passes it back in `params`.
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';

const CLIENT_AUTH = {
  client_secret_basic: (secret) => client.ClientSecretBasic(secret),
  client_secret_post: (secret) => client.ClientSecretPost(secret),
  none: () => client.None(),
};

class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UsageError';
    this.code = 'KUNCI_E2E_USAGE';
  }
}

function required(params, name) {
  const value = params[name];
  if (value === undefined || value === null || value === '') {
    throw new UsageError(`params.${name} is required for this scenario`);
  }
  return value;
}

/** Discover the issuer the way a relying party would, and return openid-client's Configuration. */
async function configure(request) {
  const issuer = new URL(required(request, 'issuer'));
  const clientId = required(request, 'client_id');
  const method = request.client_auth ?? (request.client_secret ? 'client_secret_basic' : 'none');
  const auth = CLIENT_AUTH[method];
  if (!auth) {
    throw new UsageError(`unknown client_auth ${JSON.stringify(method)}`);
  }
  // Plain HTTP only for the loopback servers the tests start; https issuers get the library default.
  const execute = issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [];
  // The id_token's signature is verified against the issuer's JWKS only after this (NOTES-OIDC.md).
  execute.push(client.enableNonRepudiationChecks);
  return client.discovery(issuer, clientId, undefined, auth(request.client_secret ?? undefined), {
    execute,
    timeout: 20,
  });
}

/** A token endpoint response as plain JSON, with the id_token's claims when one was returned. */
function tokenResult(tokens) {
  const plain = { ...tokens };
  return { tokens: plain, claims: tokens.id_token ? tokens.claims() : null, expires_in: tokens.expiresIn() };
}

const SCENARIOS = {
  /** The server metadata openid-client accepted (issuer string-equal to the URL it was given). */
  async discovery(config) {
    return { server_metadata: config.serverMetadata(), client_metadata: config.clientMetadata() };
  },

  // ---------------------------------------------------------------------------------------------
  // Extension points for the OpenID Provider's endpoints. Each is written as far as openid-client
  // allows without them; their tests arrive with the endpoints (tests/e2e/test_oidc_client.py).
  // ---------------------------------------------------------------------------------------------

  /**
   * Build an authorization request (code flow, PKCE S256, nonce, state) from the discovered
   * metadata. Pure: no request is sent. params: redirect_uri, scope (default "openid profile
   * email"), extra (more authorization parameters, e.g. prompt, max_age, login_hint).
   */
  async 'authorization-url'(config, params) {
    const codeVerifier = client.randomPKCECodeVerifier();
    const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
    const nonce = client.randomNonce();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: required(params, 'redirect_uri'),
      scope: params.scope ?? 'openid profile email',
      response_type: 'code',
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      nonce,
      state,
      ...(params.extra ?? {}),
    });
    return { url: url.href, code_verifier: codeVerifier, code_challenge: codeChallenge, nonce, state };
  },

  /**
   * Redeem the code in the callback URL the browser landed on: checks state, RFC 9207 iss when
   * advertised, the id_token (signature, iss, aud, azp, exp, iat, nonce, auth_time with max_age).
   * params: callback_url, code_verifier, nonce, state, max_age (optional).
   */
  async 'code-exchange'(config, params) {
    const tokens = await client.authorizationCodeGrant(config, new URL(required(params, 'callback_url')), {
      pkceCodeVerifier: required(params, 'code_verifier'),
      expectedNonce: required(params, 'nonce'),
      expectedState: required(params, 'state'),
      idTokenExpected: true,
      ...(params.max_age === undefined ? {} : { maxAge: params.max_age }),
    });
    return tokenResult(tokens);
  },

  /** GET the userinfo endpoint with a Bearer access token; params: access_token, sub (expected). */
  async userinfo(config, params) {
    return {
      userinfo: await client.fetchUserInfo(config, required(params, 'access_token'), required(params, 'sub')),
    };
  },

  /** Rotate a refresh token at the token endpoint; params: refresh_token, scope (optional). */
  async refresh(config, params) {
    const extra = params.scope ? { scope: params.scope } : undefined;
    return tokenResult(await client.refreshTokenGrant(config, required(params, 'refresh_token'), extra));
  },

  /**
   * Revoke a token at revocation_endpoint (RFC 7009); params: token, token_type_hint (optional).
   * openid-client resolves nothing on success: the result is empty.
   */
  async revocation(config, params) {
    const extra = params.token_type_hint ? { token_type_hint: params.token_type_hint } : undefined;
    await client.tokenRevocation(config, required(params, 'token'), extra);
    return {};
  },

  /** Introspect a token at introspection_endpoint (RFC 7662); params: token, token_type_hint (optional). */
  async introspection(config, params) {
    const extra = params.token_type_hint ? { token_type_hint: params.token_type_hint } : undefined;
    return { introspection: await client.tokenIntrospection(config, required(params, 'token'), extra) };
  },

  /**
   * Build an RP-Initiated Logout 1.0 URL from end_session_endpoint. Pure: no request is sent.
   * params: id_token_hint, post_logout_redirect_uri, state (all optional).
   */
  async 'end-session-url'(config, params) {
    const parameters = {};
    for (const name of ['id_token_hint', 'post_logout_redirect_uri', 'state', 'client_id', 'logout_hint']) {
      if (params[name] !== undefined && params[name] !== null) parameters[name] = params[name];
    }
    return { url: client.buildEndSessionUrl(config, parameters).href };
  },
};

/** Turn an error (and its cause chain) into JSON, keeping what tests assert on. */
function describeError(err) {
  return {
    name: err?.name ?? 'Error',
    code: err?.code ?? null,
    message: String(err?.message ?? err),
    error: err?.error ?? null,
    error_description: err?.error_description ?? null,
    status: err?.status ?? null,
    cause: plain(err?.cause),
  };
}

/** A JSON-safe copy of what openid-client puts in an error's cause (bodies, params, responses). */
function plain(value, depth = 0) {
  if (value === undefined || value === null || depth > 4) return null;
  if (typeof value !== 'object') return typeof value === 'function' ? null : value;
  if (value instanceof URLSearchParams || value instanceof Headers) return Object.fromEntries(value.entries());
  if (value instanceof Response) return { status: value.status, url: value.url };
  if (value instanceof URL) return value.href;
  if (value instanceof Error) {
    return { name: value.name, code: value.code ?? null, message: value.message, cause: plain(value.cause, depth + 1) };
  }
  if (Array.isArray(value)) return value.map((item) => plain(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item, depth + 1)]));
}

function answer(body, status) {
  process.stdout.write(JSON.stringify(body) + '\n');
  process.exitCode = status;
}

async function main() {
  let request;
  try {
    request = JSON.parse(readFileSync(0, 'utf8'));
    if (!SCENARIOS[request.scenario]) {
      throw new UsageError(`unknown scenario ${JSON.stringify(request.scenario)}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    }
  } catch (err) {
    return answer({ ok: false, error: describeError(err) }, 2);
  }
  try {
    const config = await configure(request);
    const result = await SCENARIOS[request.scenario](config, request.params ?? {});
    return answer({ ok: true, result }, 0);
  } catch (err) {
    return answer({ ok: false, error: describeError(err) }, err instanceof UsageError ? 2 : 1);
  }
}

await main();
