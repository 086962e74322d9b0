#!/usr/bin/env node
// The `reasonrl` command: loads the TypeScript sources through tsx, so the
// checkout needs no separate compile step and can never run stale output.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
