"""An original-course-style CenterNet solution (test material, not a reference).

Written against the original course's API: ``UpscaleTwiceLayer(in_channels, out_channels,
kernel_size=3, padding=1, output_padding=0)``, ``ObjectsToPoints(smooth_kernel_size=S)`` with S the
kernel side and the staticmethod ``_gaussian_2d``, ``smooth_points_heatmap`` on the whole
``[B, C+4, H, W]`` map, ``PointsToObjects.top_k`` / ``.min_conf``, ``CenterNetLoss`` building its
``ObjectsToPoints(**kwargs)`` in ``__init__``. The original's package ``__init__`` exported nothing.
The given modules of this project (data, train, plot) are copied next to it by the test.
"""
