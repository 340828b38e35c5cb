import Hybrid
