"""Explicit folder-name -> attribute-matrix class-name maps for the shipped datasets.

The image folders and the ZS-ViDAT attribute CSVs spell classes differently
(``../shared/data/README.md``). The maps are written out, not guessed.
"""

from __future__ import annotations

UCM_FOLDER_TO_CLASS: dict[str, str] = {
    "agricultural": "agriculture",
    "airplane": "airplane",
    "baseballdiamond": "baseball_diamond",
    "beach": "beach",
    "buildings": "buildings",
    "chaparral": "chaparral",
    "denseresidential": "denser_residential",
    "forest": "forest",
    "freeway": "freeway",
    "golfcourse": "golf_corse",
    "harbor": "harbour",
    "intersection": "intersection",
    "mediumresidential": "medium_residential",
    "mobilehomepark": "mobile_home_park",
    "overpass": "overpass",
    "parkinglot": "park_lot",
    "river": "river",
    "runway": "runway",
    "sparseresidential": "sparse_residential",
    "storagetanks": "storgetanks",
    "tenniscourt": "tenniscourt",
}

AID_FOLDER_TO_CLASS: dict[str, str] = {
    "Airport": "airport",
    "BareLand": "bareland",
    "BaseballField": "baseballfield",
    "Beach": "beach",
    "Bridge": "bridge",
    "Center": "center",
    "Church": "church",
    "Commercial": "commercial",
    "DenseResidential": "denser_residential",
    "Desert": "desert",
    "Farmland": "farmland",
    "Forest": "forest",
    "Industrial": "industrial",
    "Meadow": "meadow",
    "MediumResidential": "medium_residential",
    "Mountain": "mountain",
    "Park": "park",
    "Parking": "parking",
    "Playground": "playground",
    "Pond": "pond",
    "Port": "port",
    "RailwayStation": "railway_station",
    "Resort": "resort",
    "River": "river",
    "School": "school",
    "SparseResidential": "sparse_residential",
    "Square": "square",
    "Stadium": "stadium",
    "StorageTanks": "storgetanks",
    "Viaduct": "viaduct",
}

KNOWN_FOLDER_MAPS = {"ucm": UCM_FOLDER_TO_CLASS, "aid": AID_FOLDER_TO_CLASS}
