/**
 * A stand-in for the Hugging Face hub on loopback, serving the two endpoints
 * @huggingface/hub uses to list and download a dataset's files:
 *   GET /api/datasets/<repo>/tree/<revision>?recursive=true  -> [{ type, path, size, oid }]
 *   GET /datasets/<repo>/resolve/<revision>/<path>            -> the bytes (a Range probe first)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeHub {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `repos`: repo id -> (path in the repo -> content). */
export async function startFakeHub(repos: Record<string, Record<string, Buffer | string>>): Promise<FakeHub> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests.push(url.pathname);
    for (const [repo, files] of Object.entries(repos)) {
      const tree = `/api/datasets/${repo}/tree/main`;
      if (url.pathname === tree) {
        const entries = Object.entries(files).map(([path, content]) => ({
          type: "file",
          path,
          size: Buffer.byteLength(content),
          oid: `oid-${path}`,
        }));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(entries));
        return;
      }
      const prefix = `/datasets/${repo}/resolve/main/`;
      if (url.pathname.startsWith(prefix)) {
        const content = files[decodeURIComponent(url.pathname.slice(prefix.length))];
        if (content === undefined) break;
        const body = Buffer.from(content);
        const etag = `"etag-${body.length}"`;
        if (req.headers.range === "bytes=0-0") {
          res
            .writeHead(206, { "content-range": `bytes 0-0/${body.length}`, etag, "content-length": "1" })
            .end(body.subarray(0, 1));
        } else res.writeHead(200, { etag, "content-length": String(body.length) }).end(body);
        return;
      }
    }
    res.writeHead(404, { "x-error-code": "EntryNotFound" }).end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
