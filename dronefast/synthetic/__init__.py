"""The built-in synthetic dataset: nadir drone scenes drawn with the real class list and colours, at the real
data's scale and class balance, because the Semantic Drone Dataset cannot be redistributed.

Modules, one job each:
    generator   the dataset on disk: layouts, manifest, generate_sample, ensure_sample (and render_scene, re-exported)
    scene       one scene: the camera, the painters in drawing order, the render (render_scene)
    shot        the camera: the frame's ground width in metres, flight height, perspective, sun
    canvas      the Scene: class-id, object and shade canvases, per-object colours, picking free spots
    shapes      polygon helpers
    looks       per-class colours and textures
    photo       canvases to a photo: colour, texture, roof and paving patterns, light, noise
    ground      ground cover, patches, plaza, paths, roads
    water       pond, rocks, pool
    vegetation  bushes, hedges, trees, bald trees
    fences      fences with poles, free-standing posts
    buildings   walls in perspective, roofs, windows, doors
    vehicles    cars, vans, trucks, bicycles
    people      people, groups, dogs
    clutter     obstacles, AR markers, unlabeled patches
    stats       object sizes and class shares measured against the real data
"""
