/**
 * A loopback stand-in for the Hugging Face hub, serving the two calls that
 * dataset downloads make: the tree listing
 *   GET /api/datasets/<owner>/<name>/tree/<revision>[/<path>]?recursive=true
 * and file downloads
 *   GET /datasets/<owner>/<name>/resolve/<revision>/<path>   (with Range: bytes=0-0 first)
 * Every request is recorded, so tests can check that a cached dataset is not fetched again.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface HubFixture {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/** Serves `repos`: "owner/name" -> (path in the repository -> file content). */
export async function startHubFixture(
  repos: Record<string, Record<string, string | Uint8Array>>,
): Promise<HubFixture> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests.push(`${req.method} ${url.pathname}`);
    const tree = /^\/api\/datasets\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    if (tree) {
      const files = repos[decodeURIComponent(tree[1])];
      if (!files) return notFound(res, "RepoNotFound");
      const under = tree[3] ? `${decodeURIComponent(tree[3])}/` : "";
      const entries = Object.entries(files)
        .filter(([p]) => p.startsWith(under))
        .map(([path, content]) => ({ type: "file", path, size: Buffer.from(content).length, oid: "0" }));
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(entries));
    }
    const resolve = /^\/datasets\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const content = repos[decodeURIComponent(resolve[1])]?.[decodeURIComponent(resolve[3])];
      if (content === undefined) return notFound(res, "EntryNotFound");
      const body = Buffer.from(content);
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
      if (range) {
        const start = Number(range[1]);
        const end = Math.min(Number(range[2]), body.length - 1);
        res.writeHead(206, {
          "content-range": `bytes ${start}-${end}/${body.length}`,
          etag: '"fixture"',
          "content-type": "application/octet-stream",
        });
        return res.end(body.subarray(start, end + 1));
      }
      res.writeHead(200, { etag: '"fixture"', "content-type": "application/octet-stream" });
      return res.end(body);
    }
    notFound(res, "NotFound");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function notFound(res: import("node:http").ServerResponse, code: string): void {
  res.writeHead(404, { "x-error-code": code, "content-type": "application/json" });
  res.end(JSON.stringify({ error: code }));
}
