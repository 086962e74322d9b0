{
  "targets": [
    {
      "target_name": "reasonrl",
      "sources": ["src/addon.cpp", "src/devices.cpp", "src/tensors.cpp", "src/graph.cpp", "src/ops.cpp"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node ggml-config.mjs include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node ggml-config.mjs defines)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2"],
      "libraries": ["<!@(node ggml-config.mjs libs)"],
      "ldflags": ["<!@(node ggml-config.mjs ldflags)"]
    }
  ]
}
