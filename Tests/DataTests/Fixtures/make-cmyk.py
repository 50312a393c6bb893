# Writes cmyk.jpg, a CMYK JPEG as Pillow saves one (Adobe marker, transform 0), and
# cmyk.rgb.json, Pillow's own RGB conversion of it: the reference SourceTests compares our
# decoder with. Run once with `pip install pillow`; both files are committed.
import json
from PIL import Image
import PIL

w, h = 16, 12
image = Image.new("CMYK", (w, h))
image.putdata([((x * 16) % 256, (y * 21) % 256, ((x + y) * 9) % 256, (x * y * 3) % 256) for y in range(h) for x in range(w)])
image.save("cmyk.jpg", "JPEG", quality=95)
back = Image.open("cmyk.jpg")
assert back.mode == "CMYK"
rgb = back.convert("RGB")
pixels = [v for px in rgb.get_flattened_data() for v in px]
json.dump({"width": w, "height": h, "rgb": pixels, "pillow": PIL.__version__}, open("cmyk.rgb.json", "w"))
