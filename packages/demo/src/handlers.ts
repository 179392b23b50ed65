/**
 * What each demo service does. Small on purpose: enough state to make real calls with real
 * paths, bodies and headers, so the decision logs look like a shop's.
 */
import { randomUUID } from 'node:crypto';
import type { Pdp } from '@ward/sdk';
import { API_KEY_HEADER, type DemoSecrets } from './secrets.ts';
import type { Handler, Reply } from './service.ts';

const SKUS = ['sku-lamp', 'sku-desk', 'sku-chair', 'sku-shelf', 'sku-rug'];
const notFound: Reply = { status: 404, body: { error: 'no such route' } };

/** The simulated end users: an OIDC token validated at the edge would carry these attributes. */
export const USERS: Readonly<Record<string, { role: string; tenant: string }>> = {
  alice: { role: 'customer', tenant: 'eu' },
  bob: { role: 'customer', tenant: 'us' },
  carol: { role: 'customer', tenant: 'eu' },
  dave: { role: 'support', tenant: 'eu' },
};

async function metrics(pdp: Pdp): Promise<Reply> {
  return { status: 200, text: await pdp.metrics().metrics() };
}

const segments = (path: string) => path.split('/').filter(Boolean);

/**
 * frontend: the storefront behind the gateway. The gateway verified the user's OIDC token and
 * minted a passport; the middleware verified it (`spec.passport.verify`), and the frontend
 * forwards it with every downstream call, so orders can tell who the end user is. Product pages
 * show reviews from shop/reviews (the Python service, when it runs) on a best-effort basis; the
 * passport does not go there (plain HTTP, and reviews' policy does not read it).
 */
export function frontendHandler(
  _pdp: Pdp,
  _secrets?: DemoSecrets,
  mesh: { reviews: boolean } = { reviews: false },
): Handler {
  return async ({ method, path, body, passport: claims, passportToken, call }) => {
    if (claims === undefined || passportToken === undefined) {
      return { status: 401, body: { error: 'no passport: sign in at the gateway' } };
    }
    const passport = { token: passportToken, claims };
    const [first, second] = segments(path);
    const forward = (r: {
      status: number;
      body: unknown;
      refused?: { rule: string; reason: string };
    }): Reply =>
      r.refused
        ? {
            status: 403,
            body: { error: `refused by Ward (${r.refused.rule}): ${r.refused.reason}` },
          }
        : { status: r.status, body: r.body ?? undefined };
    if (method === 'GET' && first === 'products' && second) {
      // Reads stock straight from inventory: the dependency the new dry-run rule wants gone.
      const [stock, reviews] = await Promise.all([
        call('inventory', 'GET', `/stock/${second}`, { passport }),
        mesh.reviews
          ? call('reviews', 'GET', `/reviews/${second}`).catch(() => undefined)
          : undefined,
      ]);
      const page = forward(stock);
      const found = reviews?.status === 200 ? (reviews.body as { reviews?: unknown }) : undefined;
      if (page.status === 200 && found?.reviews && typeof page.body === 'object') {
        page.body = { ...(page.body as object), reviews: found.reviews };
      }
      return page;
    }
    if (method === 'POST' && first === 'checkout') {
      return forward(await call('orders', 'POST', '/orders', { body, passport }));
    }
    if (method === 'GET' && first === 'orders' && !second) {
      return forward(await call('orders', 'GET', '/orders', { passport }));
    }
    if (method === 'DELETE' && first === 'orders' && second) {
      return forward(await call('orders', 'DELETE', `/orders/${second}`, { passport }));
    }
    return notFound;
  };
}

/**
 * orders: places orders (reserve stock, charge, confirm by mail) and cancels them (refund). It
 * sends payments' API key, read from Ward at each call (`secrets.get` is a memory read).
 */
export function ordersHandler(pdp: Pdp, secrets?: DemoSecrets): Handler {
  const keyHeader = (): Record<string, string> =>
    secrets ? { [API_KEY_HEADER]: secrets.apiKey() } : {};
  const orders = new Map<string, { id: string; user: string; sku: string; qty: number }>();
  return async ({ method, path, body, passport, passportToken, call }) => {
    const [first, second] = segments(path);
    const pass = passport && passportToken ? { token: passportToken, claims: passport } : undefined;
    if (method === 'GET' && first === 'metrics') return metrics(pdp);
    if (first !== 'orders') return notFound;
    if (method === 'GET' && !second) {
      const mine = [...orders.values()].filter((o) => o.user === passport?.sub).slice(-20);
      return { status: 200, body: { orders: mine } };
    }
    if (method === 'POST' && !second) {
      const b = (body ?? {}) as { sku?: string; qty?: number };
      const sku = SKUS.includes(String(b.sku)) ? String(b.sku) : SKUS[0]!;
      const qty = Number.isInteger(b.qty) && b.qty! > 0 ? b.qty! : 1;
      const id = `ord-${randomUUID().slice(0, 8)}`;
      const reserved = await call('inventory', 'POST', `/stock/${sku}/reserve`, {
        body: { qty },
        headers: { 'idempotency-key': id },
        passport: pass,
      });
      if (reserved.status !== 200) return { status: 409, body: { error: 'out of stock' } };
      const charged = await call('payments', 'POST', '/charges', {
        body: { order: id, amount: qty * 4200 },
        headers: keyHeader(),
        passport: pass,
      });
      if (charged.status !== 201) return { status: 402, body: { error: 'payment failed' } };
      orders.set(id, { id, user: passport?.sub ?? 'anonymous', sku, qty });
      if (orders.size > 1000) orders.delete(orders.keys().next().value!);
      await call('notifications', 'POST', '/send', {
        body: { to: passport?.sub, template: 'order-confirmed', order: id },
        passport: pass,
      });
      return { status: 201, body: { id } };
    }
    if (method === 'DELETE' && second) {
      const order = orders.get(second);
      if (!order || order.user !== passport?.sub)
        return { status: 404, body: { error: 'no such order' } };
      orders.delete(second);
      await call('payments', 'POST', '/refunds', {
        body: { order: second },
        headers: keyHeader(),
        passport: pass,
      });
      return { status: 204 };
    }
    return notFound;
  };
}

/**
 * payments: charges and refunds (pretend), only with its API key: any version Ward says is valid
 * now, so a caller still on the previous key is served through the grace period.
 */
export function paymentsHandler(pdp: Pdp, secrets?: DemoSecrets): Handler {
  return async ({ req, method, path }) => {
    if (method === 'GET' && path === '/metrics') return metrics(pdp);
    if (secrets && method === 'POST') {
      const presented = req.headers[API_KEY_HEADER];
      if (!secrets.accepts(typeof presented === 'string' ? presented : undefined))
        return { status: 401, body: { error: 'missing or wrong API key' } };
    }
    if (method === 'POST' && path === '/charges')
      return { status: 201, body: { charge: `ch-${randomUUID().slice(0, 8)}` } };
    if (method === 'POST' && path === '/refunds')
      return { status: 201, body: { refund: `re-${randomUUID().slice(0, 8)}` } };
    return notFound;
  };
}

/** inventory: stock levels and reservations. */
export function inventoryHandler(pdp: Pdp): Handler {
  const stock = new Map(SKUS.map((s) => [s, 1_000_000]));
  return async ({ method, path, body }) => {
    if (method === 'GET' && path === '/metrics') return metrics(pdp);
    const [first, sku, action] = segments(path);
    if (first !== 'stock' || !sku || !stock.has(sku)) return notFound;
    if (method === 'GET' && !action)
      return { status: 200, body: { sku, available: stock.get(sku) } };
    if (method === 'POST' && action === 'reserve') {
      const qty = Number((body as { qty?: number } | undefined)?.qty ?? 1);
      stock.set(sku, Math.max(0, stock.get(sku)! - qty));
      return { status: 200, body: { sku, reserved: qty } };
    }
    return notFound;
  };
}

/** notifications: sends mail (pretend). */
export function notificationsHandler(pdp: Pdp): Handler {
  let sent = 0;
  return async ({ method, path }) => {
    if (method === 'GET' && path === '/metrics') return metrics(pdp);
    if (method === 'POST' && path === '/send') return { status: 202, body: { queued: ++sent } };
    return notFound;
  };
}

export { SKUS };
