/** The engine's public face: devices, tensors, graphs, ops, the optimizer. */
export { AdamW, type AdamWOptions, type AdamWState, type StepResult } from "./adamw.ts";
export { compiledBackends, type DeviceInfo, type DeviceKind, listDevices } from "./devices.ts";
export type { DType } from "./dtype.ts";
export { Engine, type EngineOptions, type TensorOptions } from "./engine.ts";
export { type BuildOptions, Graph, type GraphOptions } from "./graph.ts";
export { LOG_PROB_FLOOR_EPS, type RopeMode, type RopeOptions } from "./ops-nn.ts";
export { Tensor } from "./tensor.ts";
