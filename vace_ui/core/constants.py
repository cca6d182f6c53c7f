"""Values every layer agrees on. Defined once; imported everywhere else.

See ../shared/VACE_FORMAT.md for why each matters.
"""

from __future__ import annotations

# Fill for pixels and frames the model must create. The original training code fills with 127.5 in float;
# PIL-based pipelines (diffusers among them) use 128. Frames travel as uint8 here, so the app uses 128
# everywhere: in the source video, in previews, in exported bundles.
NEUTRAL_GRAY = 128

# Mask values as stored (uint8, single channel). White = generate, black = keep.
MASK_GENERATE = 255
MASK_KEEP = 0

# Reference images are fitted onto a canvas of this colour.
REFERENCE_CANVAS = (255, 255, 255)

# The trained frame rate: 81 frames at 16 fps = the 5-second clip.
OUTPUT_FPS = 16
# The VAE compresses time 4x: frame counts are 4n+1.
TEMPORAL_STRIDE = 4
# Width and height must be multiples of this.
SPATIAL_MULTIPLE = 16

MIN_FRAMES = 5
MAX_FRAMES = 161
DEFAULT_FRAMES = 81
# Longer videos run as sliding windows of at most MAX_FRAMES each (core/windows.py); 120 s at 16 fps.
MAX_LONG_FRAMES = 1921
COLOR_STRENGTH_RANGE = (0.0, 1.0)

# Output sizes (width, height). 1280x720 and 720x1280 are trained for 14B only.
SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "832x480": (832, 480),
    "480x832": (480, 832),
    "1280x720": (1280, 720),
    "720x1280": (720, 1280),
}
DEFAULT_SIZE = "832x480"
# "auto" = no size chosen: the default preset's area at the input's aspect; a backend that accepts only fixed
# sizes takes its size nearest in aspect to the compiled canvas (or its own default when nothing is compiled).
AUTO_SIZE = "auto"
# Custom "WxH" sizes (multiples of 16) are accepted in this range; the presets are the trained ones.
CUSTOM_SIZE_RANGE = (64, 1920)

MAX_PROMPT_CHARS = 2000
MAX_REFERENCES = 3
MAX_LORAS = 3
MAX_INPUT_PIXELS = 4096 * 4096  # per image or video frame, checked from the header before decoding
LORA_SCALE_RANGE = (0.0, 4.0)
CONDITIONING_SCALE_RANGE = (0.0, 2.0)
OUTPAINT_SCALE_RANGE = (1.0, 2.0)
EXPAND_RATIO_RANGE = (0.0, 1.0)
MAX_EXTENSION_CLIP_SECONDS = 3.0

DEFAULT_NEGATIVE_PROMPT = (
    "bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, static, "
    "overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, extra fingers, "
    "poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused fingers, "
    "still picture, messy background, three legs, many people in the background, walking backwards"
)
