"""perception: camera perception for autonomous driving on ROS 2.

Pipeline: input -> detection -> tracking -> prediction -> publish / visualize, with
evaluation beside it. Everything outside `perception.ros` and `perception.nodes` is ROS-free.
"""

__version__ = "0.1.0"
