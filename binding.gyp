{
  "targets": [
    {
      "target_name": "cvchat",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/frame.cc",
        "native/capture.cc",
        "native/test_source.cc",
        "native/codec.cc",
        "native/video_codec.cc",
        "native/jpeg.cc",
        "native/window.cc",
        "native/writer.cc",
        "native/recorder.cc",
        "native/socket.cc",
        "native/test_hooks.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I opencv4 | sed 's/-I//g')",
        "<!@(pkg-config --cflags-only-I libavformat libavcodec libavutil vpx | sed 's/-I//g')"
      ],
      "libraries": [
        "-lopencv_core",
        "-lopencv_imgproc",
        "-lopencv_imgcodecs",
        "-lopencv_videoio",
        "-lopencv_highgui",
        "-ljpeg",
        "<!@(pkg-config --libs-only-L opencv4)",
        "<!@(pkg-config --libs libavformat libavcodec libavutil vpx)"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
