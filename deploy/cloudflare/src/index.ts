/**
 * The Cloudflare Worker Cerver's `cloudflare` provider calls: Cloudflare's own
 * sandbox bridge (@cloudflare/sandbox/bridge), which serves the Sandbox SDK
 * over HTTP (POST /v1/sandbox, /v1/sandbox/:id/exec as server-sent events,
 * /v1/sandbox/:id/file/*, DELETE /v1/sandbox/:id), behind a bearer token:
 * the SANDBOX_API_KEY secret, which is the `shared_secret` an account gives
 * Cerver with the Worker's URL. Nothing else is routed.
 */
import { bridge } from "@cloudflare/sandbox/bridge";

// Wrangler binds these Durable Object classes (wrangler.jsonc).
export { Sandbox } from "@cloudflare/sandbox";
export { WarmPool } from "@cloudflare/sandbox/bridge";

export default bridge({
  async fetch(): Promise<Response> {
    return new Response("not found", { status: 404 });
  },
});
